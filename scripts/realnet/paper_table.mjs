#!/usr/bin/env node
// The tables of docs/datasets.md's comparison with the Laconic paper, from the reports
// paper_table.sh writes: for each <network>-<bits>-<batchnorm> it reads the laconic JSON reports
// <tag>-{binary,booth,naf}.json (baseline as wide as the traces), <tag>-{...}-b16.json (narrower
// traces, 16-bit baseline) and <tag>.manifest.json, and prints
//   1. per network: layers, MACs per photo, zero fractions and mean terms per value of activations
//      and weights (pooled over the network: the histograms of t(v) summed over the layers, each
//      activation tensor once even when several layers read it, each layer's weights once);
//   2. the work potentials of MODEL.md §4 over all layers (ratios of sums): baseline / zero_skip,
//      stripes, pragmatic and laconic, and Laconic's term pairs per MAC.
//   node paper_table.mjs REPORTS_DIR
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir || !fs.statSync(dir).isDirectory()) {
  console.error("usage: node paper_table.mjs REPORTS_DIR (written by paper_table.sh)");
  process.exit(2);
}
const ENCODINGS = ["binary", "booth", "naf"];
const LABELS = { resnet50: "ResNet-50", mobilenetv2: "MobileNetV2", inceptionv3: "InceptionV3" };
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));

const tags = fs.readdirSync(dir).filter((f) => f.endsWith(".manifest.json")).map((f) => f.slice(0, -".manifest.json".length));
const order = (t) => {
  const [net, bits, bn] = t.split("-");
  return [Object.keys(LABELS).indexOf(net), Number(bits), bn === "separate" ? 0 : 1];
};
tags.sort((a, b) => {
  const x = order(a), y = order(b);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
});
if (tags.length === 0) {
  console.error(`paper_table: no <tag>.manifest.json in ${dir}`);
  process.exit(1);
}

/** Pooled zero fraction and mean terms of a set of histograms (index = terms per value). */
function pool(hists) {
  let n = 0, zeros = 0, terms = 0;
  for (const h of hists) {
    h.forEach((c, t) => { n += c; terms += t * c; });
    zeros += h[0];
  }
  return { zero_fraction: zeros / n, mean: terms / n, values: n };
}

function summarize(tag) {
  const manifest = read(`${tag}.manifest.json`);
  const info = read(`${tag}.dump_info.json`);
  const out = { tag, manifest, info, enc: {}, b16: {} };
  for (const enc of ENCODINGS) {
    const r = read(`${tag}-${enc}.json`);
    if (r.config.encoding !== enc) throw new Error(`${tag}-${enc}.json: encoding ${r.config.encoding}`);
    if (r.layers.length !== manifest.layers.length) throw new Error(`${tag}-${enc}.json: ${r.layers.length} layers, the manifest has ${manifest.layers.length}`);
    // Each activation tensor once (layers may share one: ResNet-50's shortcuts, InceptionV3's branches).
    const seen = new Set();
    const act = [];
    r.layers.forEach((l, i) => {
      const m = manifest.layers[i];
      if (m.name !== l.name) throw new Error(`${tag}-${enc}.json: layer ${i} is ${l.name}, the manifest's ${m.name}`);
      const key = (m.activations.files ?? [m.activations.file]).join(",");
      if (!seen.has(key)) { seen.add(key); act.push(l.terms.activations.histogram); }
    });
    const t = r.totals.all;
    out.enc[enc] = {
      report: r, act: pool(act), wgt: pool(r.layers.map((l) => l.terms.weights.histogram)),
      work: t.work, macs: t.macs, layers: t.layers, baselineWidth: r.config.baseline_width, samples: r.layers[0].samples,
    };
    if (fs.existsSync(path.join(dir, `${tag}-${enc}-b16.json`))) {
      const b = read(`${tag}-${enc}-b16.json`);
      if (b.config.baseline_width !== 16) throw new Error(`${tag}-${enc}-b16.json: baseline width ${b.config.baseline_width}`);
      out.b16[enc] = { work: b.totals.all.work, baselineWidth: 16 };
    }
  }
  return out;
}

const rows = tags.map(summarize);
const x = (a, b) => (b === 0 ? "inf" : (a / b).toFixed(1));
const pct = (v) => (100 * v).toFixed(1);
const three = (f) => ENCODINGS.map(f).join(" / ");
const photos = rows[0].info.images;
for (const r of rows) {
  if (r.info.images.join() !== photos.join()) throw new Error(`${r.tag}: photos differ from ${rows[0].tag}'s`);
}

console.log(`Photos (${photos.length}): ${photos.join(", ")}.\n`);
console.log("Values (pooled over the network; terms: binary / booth / NAF):\n");
console.log("| network | bits | BatchNorm | layers | MACs per photo | act zeros % | wgt zeros % | act terms per value | wgt terms per value |");
console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |");
for (const r of rows) {
  const [net, bits, bn] = r.tag.split("-");
  const e = r.enc.booth;
  console.log(`| ${LABELS[net]} | ${bits} | ${bn} | ${e.layers} | ${(e.macs / e.samples / 1e9).toFixed(3)} G | ${pct(e.act.zero_fraction)} | ${pct(e.wgt.zero_fraction)} | ` +
    `${three((k) => r.enc[k].act.mean.toFixed(2))} | ${three((k) => r.enc[k].wgt.mean.toFixed(2))} |`);
}
console.log("\nWork potentials, all layers (baseline work / work; binary / booth / NAF where the encoding matters):\n");
console.log("| network | bits | BatchNorm | baseline | zero_skip × | Stripes × | Pragmatic × | **Laconic ×** | Laconic term pairs per MAC |");
console.log("| --- | ---: | --- | --- | ---: | ---: | --- | --- | --- |");
for (const r of rows) {
  const [net, bits, bn] = r.tag.split("-");
  const lines = [[`${bits}-bit`, r.enc]];
  if (Object.keys(r.b16).length === 3) lines.push(["16-bit", r.b16]);
  for (const [base, w] of lines) {
    const wk = (k) => w[k].work;
    console.log(`| ${LABELS[net]} | ${bits} | ${bn} | ${base} | ${x(wk("booth").baseline, wk("booth").zero_skip)} | ${x(wk("booth").baseline, wk("booth").stripes)} | ` +
      `${three((k) => x(wk(k).baseline, wk(k).pragmatic))} | **${three((k) => x(wk(k).baseline, wk(k).laconic))}** | ` +
      `${three((k) => (wk(k).laconic / r.enc[k].macs).toFixed(2))} |`);
  }
}
const preds = rows.find((r) => r.info.predictions)?.info.predictions;
if (preds) {
  console.log(`\nResNet-50's top-1 class per photo: ${preds.map((p) => `${p.image} ${p.top5[0].label} ${(100 * p.top5[0].probability).toFixed(0)}%`).join(", ")}.`);
}
