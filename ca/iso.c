/* SPDX-License-Identifier: ISC */
/*
 * The ISO code lists the qualified profile's statements name: ISO 3166-1
 * alpha-2 countries (QcCClegislation, ETSI EN 319 412-5 4.2.4) and ISO
 * 4217 alphabetic currencies (QcLimitValue, 4.3.2).  Taken from Debian's
 * iso-codes 4.15.0 (iso_3166-1.json, iso_4217.json; XTS and XXX, the
 * codes for testing and for no currency, left out), sorted, so a lookup
 * is a binary search over fixed-width codes.
 */
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

/* The 249 officially assigned alpha-2 codes, two letters each. */
static const char iso3166[] =
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQ"
	"BRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDM"
	"DODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGS"
	"GTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKN"
	"KPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQ"
	"MRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPM"
	"PNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSV"
	"SXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVI"
	"VNVUWFWSYEYTZAZMZW";

/* The 179 currency codes, three letters each. */
static const char iso4217[] =
	"AEDAFNALLAMDANGAOAARSAUDAWGAZNBAMBBDBDTBGNBHDBIFBMDBNDBOBBOV"
	"BRLBSDBTNBWPBYNBZDCADCDFCHECHFCHWCLFCLPCNYCOPCOUCRCCUCCUPCVE"
	"CZKDJFDKKDOPDZDEGPERNETBEURFJDFKPGBPGELGHSGIPGMDGNFGTQGYDHKD"
	"HNLHRKHTGHUFIDRILSINRIQDIRRISKJMDJODJPYKESKGSKHRKMFKPWKRWKWD"
	"KYDKZTLAKLBPLKRLRDLSLLYDMADMDLMGAMKDMMKMNTMOPMRUMURMVRMWKMXN"
	"MXVMYRMZNNADNGNNIONOKNPRNZDOMRPABPENPGKPHPPKRPLNPYGQARRONRSD"
	"RUBRWFSARSBDSCRSDGSEKSGDSHPSLESLLSOSSRDSSPSTNSVCSYPSZLTHBTJS"
	"TMTTNDTOPTRYTTDTWDTZSUAHUGXUSDUSNUYIUYUUYWUZSVEDVESVNDVUVWST"
	"XAFXAGXAUXBAXBBXBCXBDXCDXDRXOFXPDXPFXPTXSUXUAYERZARZMWZWL";

static int
iso_cmp(const void *key, const void *elem, size_t w)
{
	return memcmp(key, elem, w);
}

static int
iso_cmp2(const void *key, const void *elem)
{
	return iso_cmp(key, elem, 2);
}

static int
iso_cmp3(const void *key, const void *elem)
{
	return iso_cmp(key, elem, 3);
}

int
iso_country(const char *s)
{
	return strlen(s) == 2 && bsearch(s, iso3166, sizeof(iso3166) / 2, 2,
	    iso_cmp2) != NULL;
}

int
iso_currency(const char *s)
{
	return strlen(s) == 3 && bsearch(s, iso4217, sizeof(iso4217) / 3, 3,
	    iso_cmp3) != NULL;
}
