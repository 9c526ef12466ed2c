#!/usr/bin/env node
// Summarizes laconic JSON reports (laconic profile ... --json FILE) as Markdown tables: per layer the
// zero fractions and mean terms of activations and weights, the Laconic potential work speedup and
// the Laconic cycle speedup (of the first report), then network totals of every report given.
//   node summarize_profile.mjs booth.json [binary.json naf.json ...]
import fs from "node:fs";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node summarize_profile.mjs REPORT.json [REPORT.json ...]");
  process.exit(2);
}
const reports = files.map((f) => ({ file: f, r: JSON.parse(fs.readFileSync(f, "utf8")) }));
const ratio = (a, b) => (b === 0 ? "inf" : (a / b).toFixed(2));
const pct = (x) => (100 * x).toFixed(1);

const first = reports[0].r;
console.log(`Per layer (${first.config.encoding} encoding, ${first.config.tiles}x${first.config.rows}x${first.config.columns}x${first.config.lanes} geometry, ` +
  `baseline ${first.config.baseline_width}-bit; ${first.layers[0].samples} sample(s)):\n`);
console.log("| layer | MACs/sample | act zeros % | act mean terms | wgt zeros % | wgt mean terms | Laconic potential x | Laconic cycle speedup |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const l of first.layers) {
  const t = l.terms;
  console.log(`| ${l.name} | ${Math.round(l.macs / l.samples)} | ${pct(t.activations.zero_fraction)} | ${t.activations.mean.toFixed(2)} | ` +
    `${pct(t.weights.zero_fraction)} | ${t.weights.mean.toFixed(2)} | ${ratio(l.work.baseline, l.work.laconic)} | ${ratio(l.cycles.baseline, l.cycles.laconic)} |`);
}
console.log("\nNetwork totals (ratios of sums):\n");
console.log("| report | encoding | baseline width | layers | zero_skip x | stripes x | pragmatic x | laconic x | Stripes cycle speedup | Laconic cycle speedup |");
console.log("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const { file, r } of reports) {
  for (const which of ["conv", "all"]) {
    const t = r.totals[which];
    const w = t.work;
    console.log(`| ${file.split("/").pop()} | ${r.config.encoding} | ${r.config.baseline_width} | ${which} (${t.layers}) | ${ratio(w.baseline, w.zero_skip)} | ` +
      `${ratio(w.baseline, w.stripes)} | ${ratio(w.baseline, w.pragmatic)} | ${ratio(w.baseline, w.laconic)} | ` +
      `${ratio(t.cycles.baseline, t.cycles.stripes)} | ${ratio(t.cycles.baseline, t.cycles.laconic)} |`);
  }
}
