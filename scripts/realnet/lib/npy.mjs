// Minimal .npy reader/writer (format 1.0, little-endian, C order), enough for laconic's traces.
import fs from "node:fs";

const DTYPES = {
  "<f4": { bytes: 4, Array: Float32Array },
  "<f8": { bytes: 8, Array: Float64Array },
  "|i1": { bytes: 1, Array: Int8Array },
  "|u1": { bytes: 1, Array: Uint8Array },
  "<i2": { bytes: 2, Array: Int16Array },
  "<u2": { bytes: 2, Array: Uint16Array },
  "<i4": { bytes: 4, Array: Int32Array },
  "<u4": { bytes: 4, Array: Uint32Array },
};

/** The .npy descr for a typed array. */
export function descrOf(data) {
  for (const [descr, t] of Object.entries(DTYPES)) if (data instanceof t.Array) return descr;
  throw new Error(`no .npy dtype for ${data.constructor.name}`);
}

/** The .npy 1.0 header for `descr` and `shape`, padded so the data starts on a 64-byte boundary. */
export function npyHeader(descr, shape) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + dict.length + 1; // magic(6) + version(2) + length(2) + dict + '\n'
  const total = Math.ceil(unpadded / 64) * 64;
  dict = dict + " ".repeat(total - unpadded) + "\n";
  if (dict.length > 0xffff) throw new Error("npy header too long");
  const header = Buffer.alloc(10 + dict.length);
  header.write("\x93NUMPY", 0, "latin1");
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, 10, "latin1");
  return header;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `data` (a typed array, C order) with `shape` to `path` as .npy 1.0. */
export function writeNpy(path, data, shape) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`${path}: shape ${shape} holds ${count} values, data has ${data.length}`);
  if (!LITTLE_ENDIAN) throw new Error("big-endian hosts are not supported");
  const descr = descrOf(data);
  const fd = fs.openSync(path, "w");
  try {
    fs.writeSync(fd, npyHeader(descr, shape));
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 26));
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a .npy file (1.0-3.0, little-endian, C order) into {data, shape, descr}. */
export function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString("latin1", 0, 6) !== "\x93NUMPY") throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString("latin1", start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length).map(Number);
  const t = DTYPES[descr];
  if (!t) throw new Error(`${path}: unsupported dtype ${descr}`);
  const offset = start + hlen;
  const count = shape.reduce((a, b) => a * b, 1);
  const copy = new Uint8Array(count * t.bytes);
  copy.set(buf.subarray(offset, offset + count * t.bytes));
  return { data: new t.Array(copy.buffer), shape, descr };
}
