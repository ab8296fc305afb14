/* SPDX-License-Identifier: ISC */
/*
 * A PKCS#11 module for the tests that fails on command
 * (tests/integration/p11_faults.py; doc/design.md "Bad input, faults and
 * load").  It forwards every call to a real module, SoftHSM2 by default,
 * and returns errors while its control file says so.
 *
 *   P11FAULT_MODULE  the real module (default: the Debian SoftHSM2 path)
 *   P11FAULT_CTL     the control file; absent or empty: no fault
 *   P11FAULT_HANG_MAX_MS  how long a hung C_Sign waits at most (60000)
 *
 * The control file holds words, each a fault, read again whenever the
 * file changes (its inode, size or modification time; one stat per call):
 *
 *   device_error       every call on a slot or session: CKR_DEVICE_ERROR
 *   session_invalid    every session is closed when the word appears (the
 *                      login goes with the last one), and calls on any
 *                      session give CKR_SESSION_HANDLE_INVALID while it
 *                      stays
 *   token_not_present  the same closing, then the slot shows no token and
 *                      every call on it gives CKR_TOKEN_NOT_PRESENT
 *   pin_incorrect      C_Login: CKR_PIN_INCORRECT, the real module not asked
 *   hang               C_Sign waits until the word goes (at most
 *                      P11FAULT_HANG_MAX_MS), then signs
 *   hang_once          the same for the first C_Sign after the word appears
 *
 * C_CloseSession, C_CloseAllSessions and C_Finalize always go through, so
 * a caller that closes what it believes broken leaks nothing below.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define REAL_DEFAULT	"/usr/lib/softhsm/libsofthsm2.so"
#define HANG_MAX_MS	60000
#define HANG_POLL_MS	10
#define CTL_MAX		256	/* bytes of the control file read */
#define MAX_SLOTS	64

enum fault {
	F_DEVICE_ERROR	= 1 << 0,
	F_SESSION	= 1 << 1,
	F_NO_TOKEN	= 1 << 2,
	F_PIN		= 1 << 3,
	F_HANG		= 1 << 4,
	F_HANG_ONCE	= 1 << 5,
};

static const struct {
	const char	*word;
	unsigned	 bit;
} fault_words[] = {
	{ "device_error", F_DEVICE_ERROR },
	{ "session_invalid", F_SESSION },
	{ "token_not_present", F_NO_TOKEN },
	{ "pin_incorrect", F_PIN },
	{ "hang", F_HANG },
	{ "hang_once", F_HANG_ONCE },
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST	*real;
static CK_FUNCTION_LIST	 ours;
static unsigned		 faults;
static bool		 hang_once_used;
static struct stat	 ctl_st;	/* of the version read; st_ino 0: none */

/* The words of the control file as fault bits; 0 when absent or empty. */
static unsigned
ctl_parse(const char *path)
{
	char		 buf[CTL_MAX + 1], *w, *save = NULL;
	unsigned	 bits = 0;
	ssize_t		 n;
	size_t		 i;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, CTL_MAX);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (w = strtok_r(buf, " \t\r\n", &save); w != NULL;
	    w = strtok_r(NULL, " \t\r\n", &save))
		for (i = 0; i < sizeof(fault_words) / sizeof(fault_words[0]);
		    i++)
			if (strcmp(w, fault_words[i].word) == 0)
				bits |= fault_words[i].bit;
	return bits;
}

/* The token went away or was reset: its sessions, and the login, go. */
static void
close_every_session(void)
{
	CK_SLOT_ID	ids[MAX_SLOTS];
	CK_ULONG	n = MAX_SLOTS, i;

	if (real->C_GetSlotList(CK_FALSE, ids, &n) != CKR_OK)
		return;
	for (i = 0; i < n; i++)
		(void)real->C_CloseAllSessions(ids[i]);
}

/* The faults in force now: the control file read again if it changed. */
static unsigned
ctl_faults(void)
{
	const char	*path = getenv("P11FAULT_CTL");
	struct stat	 st;
	unsigned	 bits, now;

	pthread_mutex_lock(&lock);
	if (path == NULL || stat(path, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (st.st_ino != ctl_st.st_ino || st.st_size != ctl_st.st_size ||
	    st.st_mtim.tv_sec != ctl_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != ctl_st.st_mtim.tv_nsec) {
		ctl_st = st;
		bits = st.st_ino != 0 ? ctl_parse(path) : 0;
		if ((bits & (F_SESSION | F_NO_TOKEN)) &
		    ~(faults & (F_SESSION | F_NO_TOKEN)))
			close_every_session();
		if ((bits & F_HANG_ONCE) && !(faults & F_HANG_ONCE))
			hang_once_used = false;
		faults = bits;
	}
	now = faults;
	pthread_mutex_unlock(&lock);
	return now;
}

/* The error a call on a slot or session gets now, or CKR_OK. */
static CK_RV
fault_rv(bool session)
{
	unsigned f = ctl_faults();

	if (f & F_DEVICE_ERROR)
		return CKR_DEVICE_ERROR;
	if (f & F_NO_TOKEN)
		return CKR_TOKEN_NOT_PRESENT;
	if (session && (f & F_SESSION))
		return CKR_SESSION_HANDLE_INVALID;
	return CKR_OK;
}

static CK_RV
fault_GetSlotList(CK_BBOOL present, CK_SLOT_ID *ids, CK_ULONG *n)
{
	unsigned f = ctl_faults();

	if (f & F_DEVICE_ERROR)
		return CKR_DEVICE_ERROR;
	if (present && (f & F_NO_TOKEN)) {
		*n = 0;
		return CKR_OK;
	}
	return real->C_GetSlotList(present, ids, n);
}

static CK_RV
fault_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *ti)
{
	CK_RV rv = fault_rv(false);

	return rv != CKR_OK ? rv : real->C_GetTokenInfo(slot, ti);
}

static CK_RV
fault_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
    CK_SESSION_HANDLE *h)
{
	CK_RV rv = fault_rv(false);

	return rv != CKR_OK ? rv : real->C_OpenSession(slot, flags, app,
	    notify, h);
}

static CK_RV
fault_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *si)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_GetSessionInfo(h, si);
}

static CK_RV
fault_Login(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR *pin,
    CK_ULONG len)
{
	CK_RV rv = fault_rv(true);

	if (rv != CKR_OK)
		return rv;
	if (ctl_faults() & F_PIN)
		return CKR_PIN_INCORRECT;
	return real->C_Login(h, who, pin, len);
}

static CK_RV
fault_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_FindObjectsInit(h, t, n);
}

static CK_RV
fault_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *o, CK_ULONG max,
    CK_ULONG *n)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_FindObjects(h, o, max, n);
}

static CK_RV
fault_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_GetAttributeValue(h, o, t, n);
}

static CK_RV
fault_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *t,
    CK_ULONG n, CK_OBJECT_HANDLE *c)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_CopyObject(h, o, t, n, c);
}

static CK_RV
fault_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE k)
{
	CK_RV rv = fault_rv(true);

	return rv != CKR_OK ? rv : real->C_SignInit(h, m, k);
}

/* Whether this C_Sign hangs: "hang", or the first one under "hang_once". */
static bool
sign_hangs(void)
{
	unsigned	f = ctl_faults();
	bool		hang;

	pthread_mutex_lock(&lock);
	hang = (f & F_HANG) || ((f & F_HANG_ONCE) && !hang_once_used);
	if (f & F_HANG_ONCE)
		hang_once_used = true;
	pthread_mutex_unlock(&lock);
	return hang;
}

static CK_RV
fault_Sign(CK_SESSION_HANDLE h, CK_BYTE *in, CK_ULONG inlen, CK_BYTE *sig,
    CK_ULONG *siglen)
{
	const struct timespec	 poll = { 0, HANG_POLL_MS * 1000000L };
	const char		*e = getenv("P11FAULT_HANG_MAX_MS");
	long			 max = e != NULL ? atol(e) : HANG_MAX_MS, waited;
	CK_RV			 rv;

	if (sign_hangs())
		for (waited = 0; waited < max &&
		    (ctl_faults() & (F_HANG | F_HANG_ONCE)) != 0;
		    waited += HANG_POLL_MS)
			nanosleep(&poll, NULL);
	if ((rv = fault_rv(true)) != CKR_OK)
		return rv;
	return real->C_Sign(h, in, inlen, sig, siglen);
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST **list)
{
	const char		*path = getenv("P11FAULT_MODULE");
	CK_C_GetFunctionList	 get;
	void			*dl;
	CK_RV			 rv = CKR_OK;

	pthread_mutex_lock(&lock);
	if (real != NULL)
		goto out;
	if (path == NULL)
		path = REAL_DEFAULT;
	/* As carimbo loads its modules: SoftHSM2 links OpenSSL itself. */
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) ==
	    NULL) {
		fprintf(stderr, "p11fault: %s\n", dlerror());
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || (rv = get(&real)) != CKR_OK) {
		fprintf(stderr, "p11fault: %s: no function list\n", path);
		real = NULL;
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	ours = *real;		/* every call not named below: as it is */
	ours.C_GetSlotList = fault_GetSlotList;
	ours.C_GetTokenInfo = fault_GetTokenInfo;
	ours.C_OpenSession = fault_OpenSession;
	ours.C_GetSessionInfo = fault_GetSessionInfo;
	ours.C_Login = fault_Login;
	ours.C_FindObjectsInit = fault_FindObjectsInit;
	ours.C_FindObjects = fault_FindObjects;
	ours.C_GetAttributeValue = fault_GetAttributeValue;
	ours.C_CopyObject = fault_CopyObject;
	ours.C_SignInit = fault_SignInit;
	ours.C_Sign = fault_Sign;
out:
	pthread_mutex_unlock(&lock);
	if (rv == CKR_OK)
		*list = &ours;
	return rv;
}
