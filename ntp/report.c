/* SPDX-License-Identifier: ISC */
/*
 * `carimbo clock report LOG... -o report.html`: one self-contained page
 * (no script, no network) an auditor opens in a browser: the offset of
 * every chrony/NTP source over time with the declared accuracy band, the
 * gate's closures shaded, the seals marked, and a table per source.  The
 * page is well-formed XML (XHTML with inline SVG) so tools can check it.
 * It draws what the records say; `clock audit` is what verifies them.
 */
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xml.h"
#include "ntp/ntp.h"

#define REPORT_MAX_POINTS	(1 << 22)
#define REPORT_MAX_SRC		16
#define REPORT_MAX_SPANS	4096
#define REPORT_W		1100	/* plot area, px */
#define REPORT_H		420
#define REPORT_ML		80	/* margins */
#define REPORT_MR		20
#define REPORT_MT		20
#define REPORT_MB		50

struct point {
	int64_t	t;
	int64_t	off;
	int64_t	bound;
	bool	ok;
};

struct series {
	char		 name[CLOCK_MAX_NAME];
	enum clock_kind	 kind;
	struct point	*p;
	size_t		 n, cap;
	int64_t		 worst;
	size_t		 good;
};

struct span {
	int64_t		 from, to;
	char		 why[CLOCK_MAX_REASON];
};

struct report {
	struct series	 s[REPORT_MAX_SRC];
	size_t		 ns;
	struct span	 closed[REPORT_MAX_SPANS];
	size_t		 nclosed;
	bool		 is_closed;
	int64_t		 seal[REPORT_MAX_SPANS];
	size_t		 nseal;
	int64_t		 t0, t1;
	int64_t		 accuracy_ns;
	int		 mode;
	size_t		 points;
	uint64_t	 refused;
};

static const char *const colours[] = {
	"#1f5fa8", "#d95f02", "#7570b3", "#1b9e77", "#a6761d", "#e7298a",
	"#666666", "#66a61e",
};

static void
fmt_utc(int64_t ns, const char *fmt, char out[40])
{
	time_t		t = ns / NSEC_PER_SEC;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, fmt, &tm);
}

static struct series *
report_series(struct report *r, const struct clock_sample *s)
{
	size_t i;

	for (i = 0; i < r->ns; i++)
		if (strcmp(r->s[i].name, s->name) == 0)
			return &r->s[i];
	if (r->ns == REPORT_MAX_SRC)
		return NULL;
	snprintf(r->s[r->ns].name, CLOCK_MAX_NAME, "%s", s->name);
	r->s[r->ns].kind = s->kind;
	return &r->s[r->ns++];
}

static void
report_file(struct report *r, const char *path)
{
	struct audit_rec	 rec;
	struct audit_start	 st;
	struct audit_gate	 g;
	struct clock_sample	 s;
	struct series		*se;
	struct stat		 sb;
	uint64_t		 n, total;
	uint8_t			*buf;
	const char		*why;
	size_t			 off = 0;
	int			 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1)
		err(1, "%s", path);
	if ((buf = malloc(sb.st_size ? sb.st_size : 1)) == NULL)
		err(1, NULL);
	if (read(fd, buf, sb.st_size) != sb.st_size)
		err(1, "%s: read", path);
	close(fd);
	while ((rc = audit_read(buf, sb.st_size, off, &rec, &why)) == 1) {
		off += rec.total;
		if (r->t0 == 0 || rec.time_ns < r->t0)
			r->t0 = rec.time_ns;
		if (rec.time_ns > r->t1)
			r->t1 = rec.time_ns;
		switch (rec.type) {
		case AUDIT_START:
		case AUDIT_CONFIG:
			if (audit_get_start(&rec, &st) == 0) {
				r->accuracy_ns = st.accuracy_ns;
				r->mode = st.mode;
			}
			break;
		case AUDIT_SAMPLE:
			if (audit_get_sample(&rec, &s) == -1 ||
			    s.kind == SRC_KERNEL ||
			    (se = report_series(r, &s)) == NULL ||
			    r->points == REPORT_MAX_POINTS)
				break;
			if (se->n == se->cap) {
				se->cap = se->cap ? 2 * se->cap : 256;
				if ((se->p = reallocarray(se->p, se->cap,
				    sizeof(*se->p))) == NULL)
					err(1, NULL);
			}
			se->p[se->n].t = rec.time_ns;
			se->p[se->n].off = s.offset_ns;
			se->p[se->n].bound = s.bound_ns;
			se->p[se->n].ok = s.ok;
			se->n++;
			r->points++;
			if (s.ok) {
				se->good++;
				if (llabs(s.offset_ns) > llabs(se->worst))
					se->worst = s.offset_ns;
			}
			break;
		case AUDIT_GATE:
			if (audit_get_gate(&rec, &g) == -1)
				break;
			/* A stop ends a closure; it is not one. */
			if (g.code == GATE_STOPPED) {
				if (r->is_closed)
					r->closed[r->nclosed - 1].to =
					    rec.time_ns;
				r->is_closed = false;
				break;
			}
			if (!g.open && !r->is_closed &&
			    r->nclosed < REPORT_MAX_SPANS) {
				r->closed[r->nclosed].from = rec.time_ns;
				r->closed[r->nclosed].to = 0;
				snprintf(r->closed[r->nclosed].why,
				    CLOCK_MAX_REASON, "%s", g.why);
				r->nclosed++;
				r->is_closed = true;
			} else if (g.open && r->is_closed) {
				r->closed[r->nclosed - 1].to = rec.time_ns;
				r->is_closed = false;
			}
			break;
		case AUDIT_SEAL:
			if (r->nseal < REPORT_MAX_SPANS)
				r->seal[r->nseal++] = rec.time_ns;
			break;
		case AUDIT_REFUSED:
			if (audit_get_refused(&rec, &n, &total) == 0)
				r->refused += n;
			break;
		default:
			break;
		}
	}
	if (rc == -1)
		warnx("%s: %s at offset %zu: the report stops there; run "
		    "`carimbo clock audit`", path, why, off);
	free(buf);
}

/* The leading digit of a 1-2-5 step (1, 2 or 5). */
static int
tick_digit(int64_t v)
{
	while (v >= 10)
		v /= 10;
	return (int)v;
}

static void
report_svg(struct report *r, FILE *f)
{
	const int	 W = REPORT_ML + REPORT_W + REPORT_MR;
	const int	 H = REPORT_MT + REPORT_H + REPORT_MB;
	int64_t		 span = r->t1 - r->t0, ymax = r->accuracy_ns, step, tick;
	double		 x0, x1, y;
	char		 lab[40];
	size_t		 i, j;
	int		 k;

	if (span <= 0)
		span = NSEC_PER_SEC;
	if (ymax <= 0)
		ymax = NSEC_PER_SEC;
	for (i = 0; i < r->ns; i++)
		for (j = 0; j < r->s[i].n; j++)
			if (r->s[i].p[j].ok && llabs(r->s[i].p[j].off) > ymax)
				ymax = llabs(r->s[i].p[j].off);
	ymax = ymax + ymax / 4;
#define X(t)	(REPORT_ML + (double)((t) - r->t0) * REPORT_W / span)
#define Y(v)	(REPORT_MT + REPORT_H / 2.0 - (double)(v) * (REPORT_H / 2.0) / ymax)
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "style=\"width:100%%;max-width:%dpx;height:auto\" "
	    "aria-label=\"offset per source over time\">\n", W, H, W, H, W);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"#ffffff\" stroke=\"#999999\"/>\n", REPORT_ML, REPORT_MT,
	    REPORT_W, REPORT_H);
	/* The declared accuracy band. */
	fprintf(f, "<rect class=\"band\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
	    "height=\"%.1f\" fill=\"#dff0d8\"><title>declared accuracy "
	    "&#177;%.3f s</title></rect>\n", REPORT_ML, Y(r->accuracy_ns),
	    REPORT_W, Y(-r->accuracy_ns) - Y(r->accuracy_ns),
	    r->accuracy_ns / 1e9);
	/* Closures. */
	for (i = 0; i < r->nclosed; i++) {
		x0 = X(r->closed[i].from);
		x1 = X(r->closed[i].to ? r->closed[i].to : r->t1);
		fprintf(f, "<rect class=\"closed\" x=\"%.1f\" y=\"%d\" "
		    "width=\"%.1f\" height=\"%d\" fill=\"#e8a0a0\" "
		    "fill-opacity=\"0.45\"><title>gate closed: ", x0,
		    REPORT_MT, x1 - x0 < 1 ? 1 : x1 - x0, REPORT_H);
		xml_escape(f, r->closed[i].why);
		fprintf(f, "</title></rect>\n");
	}
	/* Axes: zero line, y ticks in ms, x ticks in UTC. */
	fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
	    "stroke=\"#888888\"/>\n", REPORT_ML, Y(0), REPORT_ML + REPORT_W,
	    Y(0));
	/* y ticks at a 1-2-5 step, about four each side of zero. */
	for (tick = 1000; tick * 4 < ymax; )
		tick = tick * (tick_digit(tick) == 2 ? 5 : 2) /
		    (tick_digit(tick) == 2 ? 2 : 1);
	for (k = -(int)(ymax / tick); k <= (int)(ymax / tick); k++) {
		y = Y(tick * k);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#eeeeee\"/><text x=\"%d\" y=\"%.1f\" "
		    "font-size=\"11\" text-anchor=\"end\">%+g ms</text>\n",
		    REPORT_ML, y, REPORT_ML + REPORT_W, y, REPORT_ML - 6, y + 4,
		    (double)tick * k / 1e6);
	}
	step = span / 6;
	for (k = 0; k <= 6; k++) {
		x0 = X(r->t0 + step * k);
		fmt_utc(r->t0 + step * k, "%H:%M:%S", lab);
		/* Short spans: tenths, or the ticks repeat the same second. */
		if (span < 60 * NSEC_PER_SEC)
			snprintf(lab + 8, sizeof(lab) - 8, ".%lld",
			    (long long)((r->t0 + step * k) % NSEC_PER_SEC /
			    (NSEC_PER_SEC / 10)));
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#999999\"/><text x=\"%.1f\" y=\"%d\" "
		    "font-size=\"11\" text-anchor=\"%s\">%s</text>\n", x0,
		    REPORT_MT + REPORT_H, x0, REPORT_MT + REPORT_H + 5, x0,
		    REPORT_MT + REPORT_H + 18, k == 6 ? "end" : "middle", lab);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" "
	    "text-anchor=\"middle\">time (UTC)</text>\n", REPORT_ML +
	    REPORT_W / 2, H - 8);
	fprintf(f, "<text x=\"14\" y=\"%d\" font-size=\"12\" "
	    "transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">offset "
	    "(+: local clock behind)</text>\n", REPORT_MT + REPORT_H / 2,
	    REPORT_MT + REPORT_H / 2);
	/* Seals. */
	for (i = 0; i < r->nseal; i++) {
		x0 = X(r->seal[i]);
		fprintf(f, "<g class=\"seal\"><line x1=\"%.1f\" y1=\"%d\" "
		    "x2=\"%.1f\" y2=\"%d\" stroke=\"#333333\" "
		    "stroke-dasharray=\"3,3\"/><path d=\"M%.1f %d l-5 -9 h10 z\" "
		    "fill=\"#333333\"><title>seal</title></path></g>\n", x0,
		    REPORT_MT, x0, REPORT_MT + REPORT_H, x0, REPORT_MT);
	}
	/* Sources: a line through the good samples, a point per sample. */
	for (i = 0; i < r->ns; i++) {
		const char *col = colours[i % 8];

		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"1.2\" points=\"", col);
		for (j = 0; j < r->s[i].n; j++)
			if (r->s[i].p[j].ok)
				fprintf(f, "%.1f,%.1f ", X(r->s[i].p[j].t),
				    Y(r->s[i].p[j].off));
		fprintf(f, "\"/>\n");
		for (j = 0; j < r->s[i].n; j++) {
			const struct point *p = &r->s[i].p[j];

			fmt_utc(p->t, "%Y-%m-%dT%H:%M:%SZ", lab);
			if (p->ok)
				fprintf(f, "<circle class=\"sample\" cx=\"%.1f\" "
				    "cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>",
				    X(p->t), Y(p->off), col);
			else
				fprintf(f, "<path class=\"sample fail\" "
				    "d=\"M%.1f %.1f l8 8 m0 -8 l-8 8\" "
				    "stroke=\"%s\" stroke-width=\"1.5\"><title>",
				    X(p->t) - 4, (double)REPORT_MT + REPORT_H - 14,
				    col);
			xml_escape(f, r->s[i].name);
			if (p->ok)
				fprintf(f, " %s offset %+.6f s bound %.6f s"
				    "</title></circle>\n", lab, p->off / 1e9,
				    p->bound / 1e9);
			else
				fprintf(f, " %s no usable sample</title></path>\n",
				    lab);
		}
	}
	/* Legend. */
	for (i = 0; i < r->ns; i++) {
		fprintf(f, "<rect x=\"%d\" y=\"%zu\" width=\"12\" height=\"12\" "
		    "fill=\"%s\"/><text x=\"%d\" y=\"%zu\" font-size=\"12\">",
		    REPORT_ML + 10, REPORT_MT + 8 + 18 * i, colours[i % 8],
		    REPORT_ML + 28, REPORT_MT + 18 + 18 * i);
		xml_escape(f, r->s[i].name);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg>\n");
#undef X
#undef Y
}

static void
report_html(struct report *r, FILE *f, int nfiles)
{
	char	 a[40], b[40];
	size_t	 i;
	int64_t	 closed = 0;

	for (i = 0; i < r->nclosed; i++)
		closed += (r->closed[i].to ? r->closed[i].to : r->t1) -
		    r->closed[i].from;
	fmt_utc(r->t0, "%Y-%m-%d %H:%M:%S UTC", a);
	fmt_utc(r->t1, "%Y-%m-%d %H:%M:%S UTC", b);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
	    "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
	    "<title>carimbo clock report</title>\n<style>\n"
	    "body{font-family:sans-serif;margin:24px;color:#222}\n"
	    "table{border-collapse:collapse;margin:12px 0}\n"
	    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\n"
	    "th{background:#f3f3f3}\ntd.l,th.l{text-align:left}\n"
	    ".key span{display:inline-block;width:14px;height:10px;"
	    "margin:0 4px 0 14px}\n</style>\n</head>\n<body>\n");
	fprintf(f, "<h1>Clock report</h1>\n<p>%d log file%s, %s to %s "
	    "(%.1f s). Mode: <b>%s</b>. Declared accuracy &#177;%.3f s. "
	    "Gate closed %.1f s in %zu closure%s; %" PRIu64 " requests "
	    "refused; %zu seals.</p>\n", nfiles, nfiles == 1 ? "" : "s", a, b,
	    (r->t1 - r->t0) / 1e9, r->mode ? "DEMO" : "strict",
	    r->accuracy_ns / 1e9, closed / 1e9, r->nclosed,
	    r->nclosed == 1 ? "" : "s", r->refused, r->nseal);
	fprintf(f, "<p class=\"key\"><span style=\"background:#dff0d8\">"
	    "</span>declared accuracy<span style=\"background:#e8a0a0\">"
	    "</span>gate closed<span style=\"border-left:2px dashed #333;"
	    "width:0\"></span> seal (&#9660;) &#8195;&#215; no usable "
	    "sample</p>\n");
	report_svg(r, f);
	fprintf(f, "<table>\n<tr><th class=\"l\">source</th><th>samples</th>"
	    "<th>good</th><th>worst offset (s)</th></tr>\n");
	for (i = 0; i < r->ns; i++) {
		fprintf(f, "<tr><td class=\"l\">");
		xml_escape(f, r->s[i].name);
		fprintf(f, "</td><td>%zu</td><td>%zu</td><td>%+.6f</td></tr>\n",
		    r->s[i].n, r->s[i].good, r->s[i].worst / 1e9);
	}
	fprintf(f, "</table>\n");
	if (r->nclosed > 0)
		fprintf(f, "<h2>Gate closures</h2>\n<table>\n<tr><th>from"
		    "</th><th>to</th><th>seconds</th><th class=\"l\">reason</th></tr>\n");
	for (i = 0; i < r->nclosed; i++) {
		fmt_utc(r->closed[i].from, "%H:%M:%S", a);
		if (r->closed[i].to)
			fmt_utc(r->closed[i].to, "%H:%M:%S", b);
		else
			snprintf(b, sizeof(b), "end");
		fprintf(f, "<tr><td>%s</td><td>%s</td><td>%.1f</td>"
		    "<td class=\"l\">", a, b, ((r->closed[i].to ?
		    r->closed[i].to : r->t1) - r->closed[i].from) / 1e9);
		xml_escape(f, r->closed[i].why);
		fprintf(f, "</td></tr>\n");
	}
	if (r->nclosed > 0)
		fprintf(f, "</table>\n");
	fprintf(f, "<p>%zu samples plotted. This page shows what the records "
	    "say; <code>carimbo clock audit</code> verifies their chain and "
	    "seals.</p>\n</body>\n</html>\n", r->points);
}

int
report_main(int argc, char **argv)
{
	struct report	*r;
	struct stat	 st;
	struct tm	 tm;
	time_t		 now;
	const char	*out = NULL;
	char		**files, *dated = NULL, day[16];
	FILE		*f;
	int		 ch;
	size_t		 j, nfiles;

	while ((ch = getopt(argc, argv, "o:")) != -1)
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		default:
			goto usage;
		}
	if (out == NULL || optind == argc)
		goto usage;
	/*
	 * A folder: the report goes into it named for the day (UTC) it is
	 * made, as carimbo-clock-report.timer keeps one a day.
	 */
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		if (asprintf(&dated, "%s/clock-%s.html", out, day) == -1)
			err(1, NULL);
		out = dated;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		err(1, NULL);
	files = audit_files(argv + optind, argc - optind, &nfiles);
	for (j = 0; j < nfiles; j++)
		report_file(r, files[j]);
	if ((f = fopen(out, "w")) == NULL)
		err(1, "%s", out);
	report_html(r, f, (int)nfiles);
	if (fclose(f) == EOF)
		err(1, "%s", out);
	printf("%s: %zu samples from %zu sources, %zu closures, %zu seals\n",
	    out, r->points, r->ns, r->nclosed, r->nseal);
	for (j = 0; j < r->ns; j++)
		free(r->s[j].p);
	audit_files_free(files, nfiles);
	free(r);
	free(dated);
	return 0;
usage:
	fprintf(stderr, "usage: carimbo clock report LOG|DIR... -o REPORT.html|"
	    "FOLDER\n");
	return 2;
}
