// Turns a coupon's QR image (Patron's 8-bit greyscale PNG) into a Y4M video that Chromium
// plays as its camera (--use-file-for-fake-video-capture), so the till's camera scan is
// tested with a real decode of real pixels.

import zlib from 'node:zlib';

/** Decodes an 8-bit greyscale, non-interlaced PNG (what Patron's QR route sends). */
export function decodeGreyPng(buf) {
  const sig = '89504e470d0a1a0a';
  if (buf.subarray(0, 8).toString('hex') !== sig) throw new Error('not a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.subarray(pos + 4, pos + 8).toString('latin1');
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 0 || data[12] !== 0) throw new Error('expected 8-bit greyscale, not interlaced');
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const out = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)];
    const line = raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1));
    for (let x = 0; x < width; x++) {
      const a = x > 0 ? out[y * width + x - 1] : 0;
      const b = y > 0 ? out[(y - 1) * width + x] : 0;
      const c = x > 0 && y > 0 ? out[(y - 1) * width + x - 1] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * width + x] = v & 0xff;
    }
  }
  return { width, height, pixels: out };
}

/** A Y4M video (640x480, a few identical frames) showing the image centred on white. */
export function y4mOf({ width, height, pixels }, frames = 10) {
  const W = 640;
  const H = 480;
  const scale = Math.max(1, Math.floor(Math.min((W - 40) / width, (H - 40) / height)));
  const ox = Math.floor((W - width * scale) / 2);
  const oy = Math.floor((H - height * scale) / 2);
  const y = Buffer.alloc(W * H, 255);
  for (let j = 0; j < height * scale; j++) {
    for (let i = 0; i < width * scale; i++) {
      y[(oy + j) * W + ox + i] = pixels[Math.floor(j / scale) * width + Math.floor(i / scale)];
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2), 128);
  const parts = [Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) parts.push(Buffer.from('FRAME\n'), y, chroma, chroma);
  return Buffer.concat(parts);
}
