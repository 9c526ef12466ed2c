// Loading nsfwjs's bundled Keras models offline, preprocessing photos as nsfwjs does, and the
// Keras → laconic conversions (layer graph, kernel layout, BatchNormalization folding, padding).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

const require = createRequire(import.meta.url);

import * as tf from "@tensorflow/tfjs";

export { tf };

export const MODELS = {
  mobilenetv2: { dir: "mobilenet_v2", shards: 1, size: 224, label: "MobileNetV2" },
  inceptionv3: { dir: "inception_v3", shards: 6, size: 299, label: "InceptionV3" },
};

/** The installed package.json version of an npm package. */
export function packageVersion(name) {
  const pkgDir = path.dirname(require.resolve(`${name}/package.json`, { paths: [path.dirname(new URL(import.meta.url).pathname)] }));
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
 * Loads the Keras layers model bundled in nsfwjs (dist/models/<dir>/model.min.js and its base64
 * weight shards) from node_modules, through tf.io.fromMemory: no network.
 * Returns {model, topology, spec, keras: Map name → JSON layer config}.
 */
export async function loadModel(name) {
  const spec = MODELS[name];
  if (!spec) throw new Error(`unknown model '${name}' (mobilenetv2 or inceptionv3)`);
  await tf.setBackend("cpu");
  // The CPU backend advertises tfjs-node (which cannot be installed here) on its first write.
  tf.backend().firstUse = false;
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
  const all = Buffer.concat(chunks);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }),
  );
  const topology = modelJson.modelTopology.model_config.config;
  const keras = new Map(topology.layers.map((l) => [l.name, l]));
  return { model, topology, spec, keras, weightSpecs };
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
 * nsfwjs's preprocessing (NSFWJS.infer): pixels → float / 255 → resizeBilinear to size×size with
 * alignCorners = true (only when the size differs). Returns a [size, size, 3] float32 tensor.
 */
export function preprocess(image, size) {
  return tf.tidy(() => {
    const img = tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], "int32");
    const normalized = img.toFloat().div(tf.scalar(255));
    if (image.height === size && image.width === size) return normalized;
    return tf.image.resizeBilinear(normalized, [size, size], true);
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
