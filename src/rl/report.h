/* rl/report: `retrain report` - one self-contained HTML page about a run
 * folder that `retrain train` wrote. Prefix rl_report_.
 *
 * It reads RUN/logs/metrics.jsonl (required), RUN/resolved_config.json,
 * RUN/logs/episodes.jsonl and RUN/eval/step-N/report.json (each used when
 * present) and shows: a header table (model, algorithm, steps, the key
 * hyperparameters), the first and last values of the key metrics, line
 * plots over steps as inline SVG (a metric with no finite value gets no
 * plot), the evaluation reports, and a few example episodes in
 * collapsible blocks. All text from the files is HTML-escaped; the page
 * loads nothing (no scripts, fonts, images or styles from elsewhere), so
 * it opens offline.
 *
 * Values: JSON numbers; null, NaN and +-Infinity (Python's json writes the
 * last three) are points left out of the plots. A last line without its
 * newline that does not parse is a line the trainer is still writing and
 * is skipped; any other malformed line is an error naming file:line. */
#ifndef RETRAIN_RL_REPORT_H
#define RETRAIN_RL_REPORT_H

#include "../base/base.h"

/* Writes the report of run_dir to out_path (NULL: run_dir/report.html),
 * atomically. 0, or -1 with e: the folder is not a run folder, a file in
 * it is malformed (file:line), or the page could not be written. */
int rl_report_write(const char *run_dir, const char *out_path, err_t *e);

#endif
