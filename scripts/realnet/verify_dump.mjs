#!/usr/bin/env node
// Verifies a float32 dump written by dump_nsfwjs.mjs or dump_resnet50.mjs --quantize float: for each
// checked layer it recomputes the layer's output with a plain convolution / matrix product in
// JavaScript (float64 accumulation) from the dumped inputs and weights (BN-folded or as stored), using
// the stride, padding and groups recorded in manifest.json, adds the bias (folded, or the layer's
// own), and compares it with the model's own output of that layer: the BatchNormalization output
// when a BN was folded, else the layer's output with its built-in activation switched to linear.
// The model runs on the backend the dump was made with. Reports max |ours − model| / max |model|
// per layer.
//
// With --int DIR it also checks that the integer dump in DIR (same model, images and layers,
// --quantize linear) holds exactly laconic's linear quantization of the float32 dump.
//
// With --dataset DIR (an integer dump, e.g. datasets/resnet50) it first dumps DIR's photos again as
// float32 into a temporary directory, with the options DIR/dump_info.json records, then verifies that
// dump and checks DIR's integers against it (--int DIR).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tf, loadModel, decodeImage, preprocess, listImages, batchNormAffine, kernelAndBias, linearQuantizer } from "./lib/model.mjs";
import { readNpy } from "./lib/npy.mjs";
import { runDump, dumperOf } from "./lib/dump.mjs";

const USAGE = `usage: node verify_dump.mjs --dump DIR [--layers all|auto|a,b] [--images DIR] [--tol 1e-4] [--int DIR]
       node verify_dump.mjs --dataset DIR [--layers ...] [--tol 1e-4]
  --dump DIR      a float32 dump (dump_nsfwjs.mjs or dump_resnet50.mjs --quantize float)
  --dataset DIR   an integer dump: dump its photos again as float32 (the options its dump_info.json
                  records) into a temporary directory, verify that, and check DIR against it
  --layers        all (default for mobilenetv2 and resnet50), auto (default otherwise: the first
                  layer of each kind: class, Keras padding, stride, kernel shape), or a list of names
  --images DIR    where the dump's photos are (default: the --images the dump was made with)
  --tol X         the largest acceptable max|error| / max|output| (default 1e-4)
  --int DIR       also check an integer dump of the same run against the float32 one`;

function parseArgs(argv) {
  const o = { tol: 1e-4 };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === "--dump") o.dump = val();
    else if (a === "--layers") o.layers = val();
    else if (a === "--images") o.images = val();
    else if (a === "--tol") o.tol = Number(val());
    else if (a === "--int") o.int = val();
    else if (a === "--dataset") o.dataset = val();
    else if (a === "-h" || a === "--help") { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (!o.dump === !o.dataset) throw new Error(`give one of --dump and --dataset\n${USAGE}`);
  if (o.dataset && (o.int || o.images)) throw new Error("--dataset takes neither --int nor --images");
  return o;
}

function readConcat(dir, files) {
  const parts = files.map((f) => readNpy(path.join(dir, f)));
  const shape = parts[0].shape.slice();
  shape[0] = parts.reduce((a, p) => a + p.shape[0], 0);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let off = 0;
  for (const p of parts) {
    if (p.descr !== "<f4") throw new Error(`${files[0]}: ${p.descr}, expected a float32 dump`);
    data.set(p.data, off);
    off += p.data.length;
  }
  return { data, shape };
}

function pair(v, fallback) {
  if (v === undefined) return [fallback, fallback];
  return Array.isArray(v) ? v : [v, v];
}

function paddingOf(v) {
  if (v === undefined) return { top: 0, bottom: 0, left: 0, right: 0 };
  if (typeof v === "number") return { top: v, bottom: v, left: v, right: v };
  if (Array.isArray(v)) return { top: v[0], bottom: v[0], left: v[1], right: v[1] };
  return v;
}

/** Plain grouped convolution, NCHW, float64 accumulation; returns {data, shape [N,K,Ho,Wo]}. */
function conv(A, Ash, W, Wsh, stride, pad, groups, bias) {
  const [N, C, H, Wd] = Ash;
  const [K, Cg, R, S] = Wsh;
  if (C !== Cg * groups) throw new Error(`channels ${C} != ${Cg}·${groups}`);
  const [sh, sw] = stride;
  const Ho = Math.floor((H + pad.top + pad.bottom - R) / sh) + 1;
  const Wo = Math.floor((Wd + pad.left + pad.right - S) / sw) + 1;
  const Kg = K / groups;
  const out = new Float64Array(N * K * Ho * Wo);
  for (let n = 0; n < N; ++n)
    for (let k = 0; k < K; ++k) {
      const g = Math.floor(k / Kg);
      const o = (n * K + k) * Ho * Wo;
      for (let i = 0; i < Ho * Wo; ++i) out[o + i] = bias[k];
      for (let cc = 0; cc < Cg; ++cc) {
        const c = g * Cg + cc;
        const a0 = (n * C + c) * H * Wd;
        for (let r = 0; r < R; ++r)
          for (let s = 0; s < S; ++s) {
            const w = W[((k * Cg + cc) * R + r) * S + s];
            if (w === 0) continue;
            for (let oh = 0; oh < Ho; ++oh) {
              const h = oh * sh + r - pad.top;
              if (h < 0 || h >= H) continue;
              const rowA = a0 + h * Wd;
              const rowO = o + oh * Wo;
              for (let ow = 0; ow < Wo; ++ow) {
                const x = ow * sw + s - pad.left;
                if (x < 0 || x >= Wd) continue;
                out[rowO + ow] += w * A[rowA + x];
              }
            }
          }
      }
    }
  return { data: out, shape: [N, K, Ho, Wo] };
}

function dense(A, Ash, W, Wsh, bias) {
  const [N, C] = [Ash[0], Ash.slice(1).reduce((a, b) => a * b, 1)];
  const [K, Cw] = Wsh;
  if (C !== Cw) throw new Error(`fc: ${C} inputs, weights have ${Cw}`);
  const out = new Float64Array(N * K);
  for (let n = 0; n < N; ++n)
    for (let k = 0; k < K; ++k) {
      let acc = bias[k];
      for (let c = 0; c < C; ++c) acc += A[n * C + c] * W[k * C + c];
      out[n * K + k] = acc;
    }
  return { data: out, shape: [N, K] };
}

function pickLayers(manifest, info, opt, model) {
  const names = manifest.layers.map((l) => l.name);
  const which = opt ?? (model === "inceptionv3" ? "auto" : "all");
  if (which === "all") return names;
  if (which === "auto") {
    const seen = new Set();
    const out = [];
    for (const d of info.layers) {
      const sig = d.keras_class === "Dense" ? "Dense" : `${d.keras_class}|${d.keras_padding}|${d.stride}|${d.weight_shape.slice(2)}|${!!d.folded_zero_padding}`;
      if (!seen.has(sig)) { seen.add(sig); out.push(d.name); }
    }
    return out;
  }
  const list = which.split(",");
  for (const n of list) if (!names.includes(n)) throw new Error(`--layers: '${n}' is not in the dump`);
  return list;
}

function checkInt(floatDir, intDir, manifest, intManifest) {
  const byName = new Map(intManifest.layers.map((l) => [l.name, l]));
  let checked = 0;
  for (const l of manifest.layers) {
    const il = byName.get(l.name);
    if (!il) throw new Error(`--int: layer ${l.name} missing`);
    for (const [what, fl, it] of [["activations", l.activations, il.activations], ["weights", l.weights, il.weights]]) {
      const ff = fl.files ?? [fl.file];
      const fi = it.files ?? [it.file];
      const fs32 = ff.map((f) => readNpy(path.join(floatDir, f)));
      let min = Infinity, max = -Infinity;
      for (const t of fs32) for (const x of t.data) { if (x < min) min = x; if (x > max) max = x; }
      const lq = linearQuantizer(min, max, it.bits);
      if (lq.signed !== it.signed) throw new Error(`${l.name} ${what}: signed ${it.signed}, expected ${lq.signed}`);
      fi.forEach((f, j) => {
        const q = readNpy(path.join(intDir, f));
        if (q.shape.join() !== fs32[j].shape.join()) throw new Error(`${f}: shape ${q.shape} vs ${fs32[j].shape}`);
        for (let i = 0; i < q.data.length; ++i) {
          if (q.data[i] !== lq.q(fs32[j].data[i])) throw new Error(`${path.join(intDir, f)}[${i}] = ${q.data[i]}, expected ${lq.q(fs32[j].data[i])}`);
        }
        checked += q.data.length;
      });
    }
  }
  return checked;
}

/**
 * Dumps the photos of the integer dump `dir` again as float32 into a new temporary directory, with
 * the model, photos, batch, bits, layers, padding, BatchNorm and backend options its dump_info.json
 * records. Returns the temporary directory.
 */
async function redumpAsFloat(dir) {
  const info = JSON.parse(fs.readFileSync(path.join(dir, "dump_info.json"), "utf8"));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  if (info.quantize !== "linear") throw new Error(`${dir} is not an integer dump (made with --quantize ${info.quantize})`);
  const images = info.image_paths.map((p) => path.resolve(dir, p));
  for (const f of images) if (!fs.existsSync(f)) throw new Error(`${dir}: photo ${f} not found`);
  const tool = dumperOf(info);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "realnet-verify-"));
  const folded = info.batchnorm ? info.batchnorm === "folded" : info.layers.some((d) => d.batchnorm_folded);
  const allLayers = info.layers.length === manifest.layers.length && tool.models.includes(info.model);
  await runDump({
    model: info.model, images: images.join(","), count: Infinity, batch: info.batch, quantize: "float",
    bits: info.bits, layers: allLayers ? null : info.layers.map((d) => d.name), foldPadding: !!info.fold_padding,
    foldBatchNorm: folded, backend: info.backend ?? null, network: manifest.network, out: tmp,
  }, tool);
  return tmp;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.dataset) {
    o.dump = await redumpAsFloat(o.dataset);
    o.int = o.dataset;
  }
  try {
    await verify(o);
  } finally {
    if (o.dataset) fs.rmSync(o.dump, { recursive: true, force: true });
  }
}

async function verify(o) {
  const manifest = JSON.parse(fs.readFileSync(path.join(o.dump, "manifest.json"), "utf8"));
  const info = JSON.parse(fs.readFileSync(path.join(o.dump, "dump_info.json"), "utf8"));
  if (info.quantize !== "float") throw new Error(`${o.dump} is not a float32 dump (made with --quantize ${info.quantize})`);
  const infoBy = new Map(info.layers.map((d) => [d.name, d]));
  const names = pickLayers(manifest, info, o.layers, info.model);
  const mBy = new Map(manifest.layers.map((l) => [l.name, l]));

  const { model, spec } = await loadModel(info.model, { backend: info.backend ?? undefined });
  // The photos: --images, else where the dump recorded them (relative to the dump directory).
  const ordered = info.images.map((n, i) => {
    const f = o.images
      ? listImages(o.images).find((g) => path.basename(g) === n)
      : path.resolve(o.dump, info.image_paths[i]);
    if (!f || !fs.existsSync(f)) throw new Error(`image ${n} not found; pass --images`);
    return f;
  });

  // The model's pre-activation output of each checked layer: the folded BN's output, or the layer's
  // own output; a layer with a built-in activation (Dense relu/softmax) is applied by itself, with
  // its activation switched to linear, to the tensor the unmodified model feeds it.
  const linear = tf.layers.dense({ units: 1 }).activation;
  const outputs = names.map((n) => {
    const d = infoBy.get(n);
    if (d.batchnorm_folded) return model.getLayer(d.batchnorm_folded).output;
    const layer = model.getLayer(n);
    return d.activation_after ? layer.input : layer.output;
  });
  const probe = tf.model({ inputs: model.inputs, outputs });
  const x = tf.tidy(() => tf.stack(ordered.map((f) => preprocess(decodeImage(f), spec))));
  let ys = probe.predict(x);
  if (!Array.isArray(ys)) ys = [ys];
  ys = ys.map((y, i) => {
    const d = infoBy.get(names[i]);
    if (d.batchnorm_folded || !d.activation_after) return y;
    const layer = model.getLayer(names[i]);
    const saved = layer.activation;
    layer.activation = linear;
    try {
      return layer.apply(y);
    } finally {
      layer.activation = saved;
    }
  });

  let worst = 0;
  let failed = 0;
  console.log(`| layer | class | stride | padding | groups | BN folded | max abs error | max abs output | relative |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (let i = 0; i < names.length; ++i) {
    const l = mBy.get(names[i]);
    const d = infoBy.get(names[i]);
    const A = readConcat(o.dump, l.activations.files ?? [l.activations.file]);
    const W = readConcat(o.dump, [l.weights.file]);
    // The folded bias, from the model's own BN parameters (independently of the dump).
    const { bias } = kernelAndBias(model, names[i]);
    const K = W.shape[0];
    const b = new Float64Array(K);
    const bn = d.batchnorm_folded ? batchNormAffine(model, d.batchnorm_folded) : null;
    for (let k = 0; k < K; ++k) b[k] = bn ? (bias ? bias[k] : 0) * bn.scale[k] + bn.shift[k] : bias ? bias[k] : 0;
    let ours;
    const type = l.type.toLowerCase();
    if (type === "fc") {
      ours = dense(A.data, A.shape, W.data, W.shape, b);
    } else {
      ours = conv(A.data, A.shape, W.data, W.shape, pair(l.stride, 1), paddingOf(l.padding), l.groups ?? 1, b);
    }
    const y = ys[i];
    const ref = (y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y);
    if (ref.shape.join() !== ours.shape.join()) throw new Error(`${names[i]}: output shape ${ours.shape}, model gives ${ref.shape}`);
    const r = ref.dataSync();
    let maxErr = 0, maxRef = 0;
    for (let j = 0; j < r.length; ++j) {
      maxErr = Math.max(maxErr, Math.abs(ours.data[j] - r[j]));
      maxRef = Math.max(maxRef, Math.abs(r[j]));
    }
    const rel = maxRef > 0 ? maxErr / maxRef : maxErr;
    worst = Math.max(worst, rel);
    if (!(rel < o.tol)) ++failed;
    const padText = typeof l.padding === "object" ? `${l.padding.top},${l.padding.bottom},${l.padding.left},${l.padding.right}` : String(l.padding ?? "-");
    console.log(`| ${names[i]} | ${d.keras_class} | ${l.stride ?? "-"} | ${padText} | ${l.groups ?? 1} | ${d.batchnorm_folded ?? "-"} | ${maxErr.toExponential(2)} | ${maxRef.toPrecision(4)} | ${rel.toExponential(2)}${rel < o.tol ? "" : " FAIL"} |`);
    if (ref !== y) ref.dispose();
  }
  console.log(`\n${names.length} layer(s) of ${info.model_label} on ${info.images.join(", ")}: worst relative error ${worst.toExponential(2)} (tolerance ${o.tol})`);
  if (o.int) {
    const intManifest = JSON.parse(fs.readFileSync(path.join(o.int, "manifest.json"), "utf8"));
    const n = checkInt(o.dump, o.int, manifest, intManifest);
    console.log(`integer dump ${o.int}: ${n} values equal laconic's linear quantization of the float32 dump`);
  }
  if (failed) {
    console.log(`${failed} layer(s) FAILED`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`verify_dump: ${e.message}`);
  if (process.env.DEBUG) console.error(e.stack);
  process.exit(1);
});
