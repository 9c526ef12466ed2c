#!/usr/bin/env node
// Dumps real activation and weight traces of nsfwjs's bundled MobileNetV2 or InceptionV3 (Keras
// models for TensorFlow.js) as a laconic network manifest with .npy files.
//
// For every Conv2D, DepthwiseConv2D and Dense layer it records the tensor fed to the layer (NHWC →
// NCHW; (N, C) for Dense) and its kernel in laconic's layout, by default with a following
// BatchNormalization folded in (w · gamma / sqrt(var + eps) per output channel), plus the stride and
// padding exactly as the layer applies them (lib/dump.mjs). See scripts/realnet/README.md and
// docs/datasets.md.
import { parseDumpArgs, runDump, COMMON_USAGE } from "./lib/dump.mjs";

const USAGE = `usage: node dump_nsfwjs.mjs --images DIR|FILE[,..] --out DIR [options]
  --model mobilenetv2|inceptionv3   the nsfwjs model (default mobilenetv2)
${COMMON_USAGE}
  BatchNorm is folded unless --keep-batchnorm; the backend is cpu (pure JavaScript) unless --backend
  wasm; the network name is <model>-nsfwjs unless --network.`;

const TOOL = {
  name: "scripts/realnet/dump_nsfwjs.mjs",
  models: ["mobilenetv2", "inceptionv3"],
  defaults: { model: "mobilenetv2", foldBatchNorm: true, network: (model) => `${model}-nsfwjs` },
  usage: USAGE,
  description: (spec) =>
    `Real traces of the ${spec.label} bundled in npm nsfwjs (MIT): early layers keep Keras ImageNet weights, ` +
    `later layers and the 5-class head were fine-tuned by nsfwjs. Every Conv2D, DepthwiseConv2D and Dense layer; ` +
    `inputs preprocessed as nsfwjs does (pixels/255, bilinear resize with align_corners). ` +
    `Written by scripts/realnet/dump_nsfwjs.mjs; per-layer details in dump_info.json.`,
};

async function main() {
  await runDump(parseDumpArgs(process.argv.slice(2), TOOL), TOOL);
}

main().catch((e) => {
  console.error(`dump_nsfwjs: ${e.message}`);
  if (process.env.DEBUG) console.error(e.stack);
  process.exit(1);
});
