#!/usr/bin/env node
// Dumps real activation and weight traces of nsfwjs's bundled MobileNetV2 or InceptionV3 (Keras
// models for TensorFlow.js) as a laconic network manifest with .npy files.
//
// For every Conv2D, DepthwiseConv2D and Dense layer it records the tensor fed to the layer (NHWC →
// NCHW; (N, C) for Dense) and its kernel in laconic's layout, by default with a following
// BatchNormalization folded in (w · gamma / sqrt(var + eps) per output channel), plus the stride and
// padding exactly as the layer applies them (lib/dump.mjs). See scripts/realnet/README.md and
// docs/datasets.md.
import { parseDumpArgs, runDump, DUMPERS } from "./lib/dump.mjs";

const TOOL = DUMPERS.nsfwjs;

async function main() {
  await runDump(parseDumpArgs(process.argv.slice(2), TOOL), TOOL);
}

main().catch((e) => {
  console.error(`dump_nsfwjs: ${e.message}`);
  if (process.env.DEBUG) console.error(e.stack);
  process.exit(1);
});
