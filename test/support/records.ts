// Test data for samples/records.ts and samples/peek.ts: a stream of records, each a little-endian
// header followed by a body.
import * as crypto from "crypto";

/** Length-prefixed records (u32 length + body) and the sums the records sample computes. */
export function makeRecords(n: number, seed = 1): { file: Buffer; records: number; bytes: number; checksum: number } {
  const parts: Buffer[] = [];
  let bytes = 0;
  let checksum = 0;
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const len = i % 7 === 3 ? 0 : x % 700;
    const h = Buffer.alloc(4);
    h.writeUInt32LE(len);
    const body = crypto.randomBytes(len);
    for (const b of body) checksum = (checksum + b) >>> 0;
    bytes += len;
    parts.push(h, body);
  }
  return { file: Buffer.concat(parts), records: n, bytes, checksum };
}

/** Routed messages (u16 type, u16 length, body) for samples/peek.ts and the two expected outputs. */
export function makeMessages(n: number): { file: Buffer; a: Buffer; b: Buffer; skipped: number } {
  const parts: Buffer[] = [];
  const a: Buffer[] = [];
  const b: Buffer[] = [];
  let skipped = 0;
  for (let i = 0; i < n; i++) {
    const type = [1, 2, 1, 3, 2][i % 5];
    const body = crypto.randomBytes(1 + ((i * 37) % 500));
    const h = Buffer.alloc(4);
    h.writeUInt16LE(type, 0);
    h.writeUInt16LE(body.length, 2);
    parts.push(h, body);
    if (type === 1) a.push(body);
    else if (type === 2) b.push(body);
    else skipped++;
  }
  return { file: Buffer.concat(parts), a: Buffer.concat(a), b: Buffer.concat(b), skipped };
}
