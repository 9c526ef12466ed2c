#!/usr/bin/env node
// Re-encodes a PNG or JPEG photo as a baseline JPEG with jpeg-js (deterministic output), optionally
// downscaling by an integer factor (box filter), to keep bundled photos small.
//   node reencode_jpeg.mjs IN OUT [--quality 90] [--shrink 1]
import fs from "node:fs";
import jpeg from "jpeg-js";
import { decodeImage } from "./lib/model.mjs";

const [input, output, ...rest] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node reencode_jpeg.mjs IN OUT [--quality 90] [--shrink 1]");
  process.exit(2);
}
let quality = 90;
let shrink = 1;
for (let i = 0; i < rest.length; i += 2) {
  if (rest[i] === "--quality") quality = Number(rest[i + 1]);
  else if (rest[i] === "--shrink") shrink = Number(rest[i + 1]);
  else throw new Error(`unknown option ${rest[i]}`);
}
const img = decodeImage(input);
const width = Math.floor(img.width / shrink);
const height = Math.floor(img.height / shrink);
const rgba = Buffer.alloc(width * height * 4);
for (let y = 0; y < height; ++y)
  for (let x = 0; x < width; ++x) {
    for (let ch = 0; ch < 3; ++ch) {
      let sum = 0;
      for (let dy = 0; dy < shrink; ++dy)
        for (let dx = 0; dx < shrink; ++dx) sum += img.data[((y * shrink + dy) * img.width + (x * shrink + dx)) * 3 + ch];
      rgba[(y * width + x) * 4 + ch] = Math.round(sum / (shrink * shrink));
    }
    rgba[(y * width + x) * 4 + 3] = 255;
  }
const out = jpeg.encode({ data: rgba, width, height }, quality);
fs.writeFileSync(output, out.data);
console.error(`${input} (${img.width}x${img.height}) → ${output} (${width}x${height}, quality ${quality}, ${out.data.length} bytes)`);
