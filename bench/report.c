/* SPDX-License-Identifier: ISC */
/*
 * The reports of a load run: the progress line while it runs, the human
 * table, the JSON with every figure and the machine it ran on, and an SVG
 * chart (throughput over time, latency by percentile) that any browser
 * opens with no network: no script, no external font or stylesheet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "bench/bench.h"
#include "common/xml.h"

#define SVG_W		960
#define SVG_H		720
#define SVG_ML		80	/* left margin, for the axis labels */
#define SVG_MR		30
#define SVG_PANEL_H	250
#define SVG_MAX_POINTS	600
/* The percentile curve: q = 1 - 10^(-k / CURVE_STEPS), k = 0 .. CURVE_K. */
#define CURVE_STEPS	8
#define CURVE_K		32	/* up to 99.99 % */

static const char *const svg_colors[2] = { "#1f77b4", "#d62728" };

void
report_progress(const char *label, double t, uint64_t ok, uint64_t errors,
    double rps, double p99_ms)
{
	fprintf(stderr, "%s%s%s%6.1f s %10.0f req/s %10llu ok %6llu errors "
	    "p99 %8.3f ms%s", isatty(2) ? "\r" : "", label ? label : "",
	    label ? " " : "", t, rps, (unsigned long long)ok,
	    (unsigned long long)errors, p99_ms, isatty(2) ? "" : "\n");
	fflush(stderr);
}

static double
res_rps(const struct load_result *r)
{
	return r->secs > 0 ? (double)r->ok / r->secs : 0;
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* First line of a command's output, or "" (for tool versions). */
static void
report_cmd_line(const char *cmd, char *buf, size_t len)
{
	FILE	*p;

	buf[0] = '\0';
	if ((p = popen(cmd, "r")) == NULL)
		return;
	if (fgets(buf, (int)len, p) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	pclose(p);
}

void
report_machine_json(FILE *f)
{
	struct utsname	 u;
	FILE		*ci;
	char		 line[256], cpu[256] = "", hsm[64];
	char		*v;

	if ((ci = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), ci) != NULL)
			if (strncmp(line, "model name", 10) == 0 &&
			    (v = strchr(line, ':')) != NULL) {
				snprintf(cpu, sizeof(cpu), "%s", v + 2);
				cpu[strcspn(cpu, "\n")] = '\0';
				break;
			}
		fclose(ci);
	}
	if (uname(&u) == -1)
		memset(&u, 0, sizeof(u));
	report_cmd_line("softhsm2-util --version 2>/dev/null", hsm, sizeof(hsm));
	fprintf(f, "{\"cores\": %ld, \"cpu\": ", sysconf(_SC_NPROCESSORS_ONLN));
	json_str(f, cpu);
	fprintf(f, ", \"kernel\": ");
	json_str(f, u.release);
	fprintf(f, ", \"openssl\": ");
	json_str(f, OpenSSL_version(OPENSSL_VERSION));
	fprintf(f, ", \"softhsm2\": ");
	if (hsm[0])
		json_str(f, hsm);
	else
		fprintf(f, "null");
	fprintf(f, ", \"loadavg\": ");
	report_cmd_line("cat /proc/loadavg", line, sizeof(line));
	/* The 1, 5 and 15 minute averages only. */
	if ((v = strchr(line, ' ')) != NULL && (v = strchr(v + 1, ' ')) != NULL &&
	    (v = strchr(v + 1, ' ')) != NULL)
		*v = '\0';
	json_str(f, line);
	fprintf(f, "}");
}

static void
report_json_res(FILE *f, const struct load_result *r)
{
	size_t		i, k;
	double		frac = 1;

	fprintf(f, "{\"requests_per_second\": %.1f, \"ok\": %llu, "
	    "\"errors\": %llu, \"errors_by_kind\": {", res_rps(r),
	    (unsigned long long)r->ok, (unsigned long long)load_errors(r));
	for (i = 1, k = 0; i < CHK_COUNT; i++)
		fprintf(f, "%s\"%s\": %llu", k++ ? ", " : "",
		    check_err_name((enum check_err)i),
		    (unsigned long long)r->errors[i]);
	fprintf(f, "}, \"sent\": %llu, \"verified\": %llu, "
	    "\"duration_s\": %.3f, \"bytes_per_answer\": %.1f, ",
	    (unsigned long long)r->sent, (unsigned long long)r->verified,
	    r->secs, r->ok + load_errors(r) > 0 ? (double)r->bytes_in /
	    (double)(r->ok + load_errors(r)) : 0);
	fprintf(f, "\"latency_ms\": {\"p50\": %.4f, \"p90\": %.4f, "
	    "\"p99\": %.4f, \"p999\": %.4f, \"max\": %.4f, \"min\": %.4f, "
	    "\"mean\": %.4f}, ", ms(hist_quantile(&r->lat, 0.5)),
	    ms(hist_quantile(&r->lat, 0.9)), ms(hist_quantile(&r->lat, 0.99)),
	    ms(hist_quantile(&r->lat, 0.999)), ms(r->lat.max),
	    ms(r->lat.count ? r->lat.min : 0),
	    r->lat.count ? r->lat.sum / (double)r->lat.count / 1e6 : 0);
	fprintf(f, "\"percentile_curve_ms\": [");
	for (k = 0; k <= CURVE_K; k++) {
		fprintf(f, "%s[%.6f, %.4f]", k ? ", " : "", 100 * (1 - frac),
		    ms(hist_quantile(&r->lat, 1 - frac)));
		frac *= 0.7498942093324559;	/* 10^(-1/8) */
	}
	fprintf(f, "], \"series\": {\"interval_ms\": %d, \"ok\": [",
	    BENCH_SAMPLE_MS);
	for (i = 0; i < r->nseries; i++)
		fprintf(f, "%s%u", i ? ", " : "", r->series[i]);
	fprintf(f, "]}}");
}

/* The TLS version and cipher a run negotiated, or NULL for plain HTTP. */
static const char *
report_tls(const struct report *rep)
{
	size_t	i;

	for (i = 0; i < rep->nres; i++)
		if (rep->res[i].tls[0] != '\0')
			return rep->res[i].tls;
	return NULL;
}

int
report_json(const char *path, const struct report *rep)
{
	const struct load_opts	*o = rep->opts;
	FILE			*f;
	size_t			 i;

	if (strcmp(path, "-") == 0)
		f = stdout;
	else if ((f = fopen(path, "w")) == NULL)
		return -errno;
	fprintf(f, "{\"mode\": \"%s\", \"connections\": %ld, \"pipeline\": %ld, ",
	    rep->mode, o->conns, o->pipeline);
	if (o->rate > 0)
		fprintf(f, "\"rate\": %.1f, ", o->rate);
	else
		fprintf(f, "\"rate\": null, ");
	fprintf(f, "\"sample\": %.4f, \"check\": \"%s\", ", o->sample,
	    o->check != NULL ? o->check : "fast");
	fprintf(f, "\"tls\": ");
	if (report_tls(rep) != NULL)
		json_str(f, report_tls(rep));
	else
		fprintf(f, "null");
	fprintf(f, ", ");
	if (strcmp(rep->mode, "ceiling") == 0)
		fprintf(f, "\"body_size\": %zu, \"server_cpu_s\": %.3f, ",
		    rep->body_size, rep->server_cpu_s);
	if (strcmp(rep->mode, "ceiling") == 0)
		fprintf(f, "\"ceiling\": \"%s\", ", rep->sign ?
		    "durable+sign" : rep->durable != NULL ? "durable" : "plain");
	if (rep->durable != NULL)
		fprintf(f, "\"durable_depth\": %u, \"durable_writes\": %llu, ",
		    rep->durable_depth, (unsigned long long)rep->cc.writes);
	if (rep->sign) {
		fprintf(f, "\"signatures\": %llu, \"sign_errors\": %llu, "
		    "\"sign_key\": ", (unsigned long long)rep->cc.signatures,
		    (unsigned long long)rep->cc.sign_errors);
		json_str(f, rep->cc.key);
		fprintf(f, ", ");
	}
	if (rep->nres == 1) {
		fprintf(f, "\"url\": ");
		json_str(f, rep->names[0]);
		fprintf(f, ", \"result\": ");
		report_json_res(f, &rep->res[0]);
		/* The headline figures at top level as well. */
		fprintf(f, ", \"requests_per_second\": %.1f, \"errors\": %llu, "
		    "\"latency_ms\": {\"p50\": %.4f, \"p90\": %.4f, "
		    "\"p99\": %.4f, \"p999\": %.4f, \"max\": %.4f}",
		    res_rps(&rep->res[0]),
		    (unsigned long long)load_errors(&rep->res[0]),
		    ms(hist_quantile(&rep->res[0].lat, 0.5)),
		    ms(hist_quantile(&rep->res[0].lat, 0.9)),
		    ms(hist_quantile(&rep->res[0].lat, 0.99)),
		    ms(hist_quantile(&rep->res[0].lat, 0.999)),
		    ms(rep->res[0].lat.max));
	} else {
		for (i = 0; i < rep->nres; i++) {
			fprintf(f, "\"%s\": {\"url\": ", i == 0 ? "a" : "b");
			json_str(f, rep->names[i]);
			fprintf(f, ", \"result\": ");
			report_json_res(f, &rep->res[i]);
			fprintf(f, "}, ");
		}
		fprintf(f, "\"ratio\": %.4f, \"errors\": %llu",
		    rep->ratio, (unsigned long long)(load_errors(&rep->res[0]) +
		    load_errors(&rep->res[1])));
	}
	fprintf(f, ", \"machine\": ");
	report_machine_json(f);
	fprintf(f, "}\n");
	if (f != stdout && fclose(f) == EOF)
		return -errno;
	return 0;
}

void
report_table(FILE *f, const struct report *rep)
{
	const struct load_opts		*o = rep->opts;
	const struct load_result	*r;
	size_t				 i, k;

	fprintf(f, "\ncarimbo bench (%s): %ld connection%s, pipeline %ld, ",
	    rep->mode, o->conns, o->conns == 1 ? "" : "s", o->pipeline);
	if (o->rate > 0)
		fprintf(f, "open loop at %.0f req/s", o->rate);
	else
		fprintf(f, "closed loop");
	if (rep->body_size > 0)
		fprintf(f, ", body %zu bytes", rep->body_size);
	if (report_tls(rep) != NULL)
		fprintf(f, ", over TLS (%s)", report_tls(rep));
	if (rep->durable != NULL)
		fprintf(f, ", answers behind durable writes (%u in flight at "
		    "most): %llu writes", rep->durable_depth,
		    (unsigned long long)rep->cc.writes);
	if (rep->sign)
		fprintf(f, ",\n  each with one signature beside it (one "
		    "thread, %s): %llu signatures, %llu errors", rep->cc.key,
		    (unsigned long long)rep->cc.signatures,
		    (unsigned long long)rep->cc.sign_errors);
	fprintf(f, "\n\n  %-34s %11s %10s %7s %8s %8s %8s %9s %8s\n", "target",
	    "requests/s", "ok", "errors", "p50 ms", "p90 ms", "p99 ms",
	    "p99.9 ms", "max ms");
	for (i = 0; i < rep->nres; i++) {
		r = &rep->res[i];
		fprintf(f, "  %-34.34s %11.1f %10llu %7llu %8.3f %8.3f %8.3f "
		    "%9.3f %8.3f\n", rep->names[i], res_rps(r),
		    (unsigned long long)r->ok,
		    (unsigned long long)load_errors(r),
		    ms(hist_quantile(&r->lat, 0.5)),
		    ms(hist_quantile(&r->lat, 0.9)),
		    ms(hist_quantile(&r->lat, 0.99)),
		    ms(hist_quantile(&r->lat, 0.999)), ms(r->lat.max));
	}
	if (rep->nres == 2)
		fprintf(f, "\n  ratio B/A: %.3f\n", rep->ratio);
	for (i = 0; i < rep->nres; i++) {
		r = &rep->res[i];
		if (load_errors(r) > 0) {
			fprintf(f, "  errors%s%s:", rep->nres > 1 ? " of " : "",
			    rep->nres > 1 ? rep->names[i] : "");
			for (k = 1; k < CHK_COUNT; k++)
				if (r->errors[k])
					fprintf(f, " %s %llu",
					    check_err_name((enum check_err)k),
					    (unsigned long long)r->errors[k]);
			fputc('\n', f);
		}
		if (o->sample > 0 && strcmp(rep->mode, "ceiling") != 0)
			fprintf(f, "  %s%sfully verified: %llu answers "
			    "(%.2f %%; sample %.2f %%)\n", rep->nres > 1 ?
			    rep->names[i] : "", rep->nres > 1 ? ": " : "",
			    (unsigned long long)r->verified, r->ok > 0 ?
			    100.0 * (double)r->verified / (double)r->ok : 0,
			    o->sample * 100);
	}
	fputc('\n', f);
}

/* A "nice" axis step (1, 2 or 5 times a power of ten): about 5 ticks. */
static double
svg_step(double max)
{
	double	target = max / 5, step = 1e-6;

	if (!(max > 0))
		return 1;
	for (;;) {
		if (step >= target)
			return step;
		if (step * 2 >= target)
			return step * 2;
		if (step * 5 >= target)
			return step * 5;
		step *= 10;
	}
}

static void
svg_axes(FILE *f, int y0, const char *title, const char *ylabel, double ymax,
    const char *yfmt)
{
	double	step = svg_step(ymax), v;
	int	x0 = SVG_ML, x1 = SVG_W - SVG_MR, yb = y0 + SVG_PANEL_H, y;

	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"15\" "
	    "font-weight=\"bold\">%s</text>\n", x0, y0 - 12, title);
	for (v = 0; v <= ymax * 1.0001; v += step) {
		y = yb - (int)(v / ymax * SVG_PANEL_H);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		    "stroke=\"#ddd\"/>\n", x0, y, x1, y);
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
		    "text-anchor=\"end\">", x0 - 6, y + 4);
		fprintf(f, yfmt, v);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"none\" stroke=\"#444\"/>\n", x0, y0, x1 - x0, SVG_PANEL_H);
	fprintf(f, "<text x=\"16\" y=\"%d\" font-size=\"12\" "
	    "transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">%s</text>\n",
	    y0 + SVG_PANEL_H / 2, y0 + SVG_PANEL_H / 2, ylabel);
}

/* Rounds the axis maximum up to a whole number of steps. */
static double
svg_top(double max)
{
	double	step = svg_step(max), v = 0;

	while (v < max)
		v += step;
	return v > 0 ? v : 1;
}

int
report_svg(const char *path, const struct report *rep)
{
	const struct load_result	*r;
	FILE				*f;
	double				 ymax = 0, v, secs = 0, frac;
	double				 lat[2][CURVE_K + 1];
	size_t				 i, k, group, n, j;
	int				 x0 = SVG_ML, x1 = SVG_W - SVG_MR, y0, yb;
	int				 w = x1 - x0;

	if ((f = fopen(path, "w")) == NULL)
		return -errno;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	    SVG_W, SVG_H, SVG_W, SVG_H);
	fprintf(f, "<text x=\"%d\" y=\"26\" font-size=\"17\">carimbo bench "
	    "(%s): %ld connections, pipeline %ld, ", x0, rep->mode,
	    rep->opts->conns, rep->opts->pipeline);
	if (rep->opts->rate > 0)
		fprintf(f, "open loop %.0f req/s</text>\n", rep->opts->rate);
	else
		fprintf(f, "closed loop</text>\n");

	/* Throughput: ok answers per interval, grouped to <= SVG_MAX_POINTS. */
	n = 0;
	for (i = 0; i < rep->nres; i++)
		if (rep->res[i].nseries > n)
			n = rep->res[i].nseries;
	group = n / SVG_MAX_POINTS + 1;
	for (i = 0; i < rep->nres; i++) {
		r = &rep->res[i];
		for (k = 0; k < r->nseries; k += group) {
			for (v = 0, j = k; j < k + group && j < r->nseries; j++)
				v += r->series[j];
			v = v * 1000.0 / (double)(BENCH_SAMPLE_MS * (j - k));
			if (v > ymax)
				ymax = v;
		}
	}
	secs = (double)n * BENCH_SAMPLE_MS / 1000;
	ymax = svg_top(ymax);
	y0 = 70;
	yb = y0 + SVG_PANEL_H;
	svg_axes(f, y0, "Throughput over time (answers checked ok)",
	    "requests/s", ymax, "%.0f");
	for (v = 0; secs > 0 && v <= secs; v += svg_step(secs))
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
		    "text-anchor=\"middle\">%g s</text>\n",
		    x0 + (int)(v / secs * w), yb + 16, v);
	for (i = 0; i < rep->nres; i++) {
		r = &rep->res[i];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"1.5\" points=\"", svg_colors[i]);
		for (k = 0; k < r->nseries; k += group) {
			for (v = 0, j = k; j < k + group && j < r->nseries; j++)
				v += r->series[j];
			v = v * 1000.0 / (double)(BENCH_SAMPLE_MS * (j - k));
			fprintf(f, "%.1f,%.1f ", x0 + ((double)k + (double)(j -
			    k) / 2) / (double)n * w, yb - v / ymax *
			    SVG_PANEL_H);
		}
		fprintf(f, "\"/>\n");
	}

	/* Latency by percentile, x in "nines": 0, 90, 99, 99.9, 99.99 %. */
	ymax = 0;
	for (i = 0; i < rep->nres; i++) {
		frac = 1;
		for (k = 0; k <= CURVE_K; k++) {
			lat[i][k] = ms(hist_quantile(&rep->res[i].lat,
			    1 - frac));
			if (lat[i][k] > ymax)
				ymax = lat[i][k];
			frac *= 0.7498942093324559;	/* 10^(-1/8) */
		}
	}
	ymax = svg_top(ymax);
	y0 = 400;
	yb = y0 + SVG_PANEL_H;
	svg_axes(f, y0, "Latency by percentile", "latency (ms)", ymax,
	    ymax < 1 ? "%.2f" : ymax < 10 ? "%.1f" : "%.0f");
	{
		static const char *const ticks[] = { "0 %", "90 %", "99 %",
		    "99.9 %", "99.99 %" };

		for (k = 0; k <= CURVE_K; k += CURVE_STEPS)
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
			    "text-anchor=\"middle\">%s</text>\n", x0 +
			    (int)((double)k / CURVE_K * w), yb + 16,
			    ticks[k / CURVE_STEPS]);
	}
	for (i = 0; i < rep->nres; i++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"2\" points=\"", svg_colors[i]);
		for (k = 0; k <= CURVE_K; k++)
			fprintf(f, "%.1f,%.1f ", x0 + (double)k / CURVE_K * w,
			    yb - lat[i][k] / ymax * SVG_PANEL_H);
		fprintf(f, "\"/>\n");
	}

	/* Legend: one line per target with its headline figures. */
	for (i = 0; i < rep->nres; i++) {
		r = &rep->res[i];
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" "
		    "fill=\"%s\"/>\n<text x=\"%d\" y=\"%d\" font-size=\"12\">",
		    x0, SVG_H - 36 + (int)i * 18, svg_colors[i], x0 + 20,
		    SVG_H - 30 + (int)i * 18);
		xml_escape(f, rep->names[i]);
		fprintf(f, ": %.0f req/s, p50 %.3f ms, p99 %.3f ms, "
		    "p99.9 %.3f ms, max %.3f ms, %llu errors</text>\n",
		    res_rps(r), ms(hist_quantile(&r->lat, 0.5)),
		    ms(hist_quantile(&r->lat, 0.99)),
		    ms(hist_quantile(&r->lat, 0.999)), ms(r->lat.max),
		    (unsigned long long)load_errors(r));
	}
	fprintf(f, "</svg>\n");
	if (fclose(f) == EOF)
		return -errno;
	return 0;
}
