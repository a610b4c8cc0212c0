// Object mutation for the fuzz harness: bit flips confined to one section, truncation, ELF header and
// section-header field edits, and BTF field edits (header offsets and lengths, type info words, sizes,
// referenced type ids, member offsets, array counts, DATASEC variable offsets and sizes) with the values
// that break careless readers (0, 1, -1, 2^31, sizes past the end, self references).

import { readObject } from "../compiler/elf/reader";
import type { Rng } from "../test/support/progen";

export interface ObjInput {
  name: string;
  bytes: Uint8Array;
  how: string;
}

const INTERESTING32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x40000000];

/** Byte offsets of the 32-bit BTF words worth editing, with what each is. */
function btfFields(btf: Uint8Array): { off: number; what: string }[] {
  const out: { off: number; what: string }[] = [];
  if (btf.length < 24) return out;
  const dv = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  for (const [o, w] of [[8, "type_off"], [12, "type_len"], [16, "str_off"], [20, "str_len"], [4, "hdr_len"]] as const) out.push({ off: o, what: `header ${w}` });
  const hdr = dv.getUint32(4, true);
  const typeOff = hdr + dv.getUint32(8, true);
  const end = Math.min(btf.length, typeOff + dv.getUint32(12, true));
  let p = typeOff;
  let id = 1;
  while (p + 12 <= end) {
    const info = dv.getUint32(p + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    out.push({ off: p + 4, what: `type ${id} info` }, { off: p + 8, what: `type ${id} size/type` }, { off: p, what: `type ${id} name_off` });
    let extra = 0;
    let each = 0;
    if (kind === 1 || kind === 14 || kind === 17) extra = 4;
    else if (kind === 3) extra = 12;
    else if (kind === 4 || kind === 5 || kind === 15 || kind === 19) each = 12;
    else if (kind === 6 || kind === 13) each = 8;
    const rec = 12 + extra + each * vlen;
    for (let q = p + 12; q + 4 <= Math.min(end, p + rec); q += 4) out.push({ off: q, what: `type ${id} word ${(q - p) / 4}` });
    p += rec;
    id++;
    if (out.length > 20000) break;
  }
  return out;
}

/** One mutant of an object. */
export function mutateObject(r: Rng, base: { name: string; bytes: Uint8Array }): ObjInput {
  const b = Uint8Array.from(base.bytes);
  const dv = new DataView(b.buffer);
  let obj: ReturnType<typeof readObject> | undefined;
  try {
    obj = readObject(base.bytes);
  } catch {
    obj = undefined;
  }
  const put32 = (off: number, v: number) => off + 4 <= b.length && dv.setUint32(off, v >>> 0, true);
  const hows: string[] = [];
  const n = 1 + r.int(3);
  let bytes: Uint8Array = b;
  for (let k = 0; k < n; k++) {
    const kind = r.int(10);
    const secs = obj?.sections.filter((s) => s.size > 0 && s.type !== 8) ?? [];
    if (kind <= 2 && secs.length) {
      // Bit flips inside one section.
      const s = r.pick(secs);
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) {
        const at = s.offset + r.int(s.size);
        if (at < b.length) b[at] ^= 1 << r.int(8);
      }
      hows.push(`${flips} bit flips in ${s.name}`);
    } else if (kind === 3) {
      const len = r.chance(0.5) ? r.int(b.length) : b.length - 1 - r.int(Math.min(64, b.length));
      bytes = b.subarray(0, Math.max(0, len));
      hows.push(`truncate to ${bytes.length}`);
    } else if (kind === 4) {
      // ELF header fields.
      const fields: [number, number, string][] = [[0x28, 8, "e_shoff"], [0x3a, 2, "e_shentsize"], [0x3c, 2, "e_shnum"], [0x3e, 2, "e_shstrndx"], [0x12, 2, "e_machine"], [0x04, 1, "ei_class"], [0x05, 1, "ei_data"], [0x10, 2, "e_type"]];
      const [off, size, what] = r.pick(fields);
      const v = r.pick(INTERESTING32);
      if (size === 8) dv.setBigUint64(off, BigInt(v) * (r.chance(0.2) ? 1n << 32n : 1n), true);
      else if (size === 2) dv.setUint16(off, v & 0xffff, true);
      else dv.setUint8(off, v & 0xff);
      hows.push(`${what} = ${v}`);
    } else if (kind <= 6 && obj) {
      // Section header fields.
      const shoff = Number(dv.getBigUint64(0x28, true));
      const shnum = dv.getUint16(0x3c, true);
      if (shnum === 0 || shoff + shnum * 64 > b.length) continue;
      const i = r.int(shnum);
      const fields: [number, number, string][] = [[0, 4, "sh_name"], [4, 4, "sh_type"], [24, 8, "sh_offset"], [32, 8, "sh_size"], [40, 4, "sh_link"], [44, 4, "sh_info"], [56, 8, "sh_entsize"], [8, 8, "sh_flags"]];
      const [off, size, what] = r.pick(fields);
      const at = shoff + i * 64 + off;
      const v = r.chance(0.3) ? r.int(b.length + 64) : r.pick(INTERESTING32);
      if (size === 8) dv.setBigUint64(at, r.chance(0.1) ? 0xffffffffffffffffn : BigInt(v), true);
      else put32(at, v);
      hows.push(`section ${i} (${obj.sections[i]?.name ?? "?"}) ${what} = ${v}`);
    } else if (obj) {
      // BTF (or BTF.ext) field edits.
      const s = obj.sections.find((x) => x.name === (r.chance(0.8) ? ".BTF" : ".BTF.ext"));
      if (!s) continue;
      const fields = s.name === ".BTF" ? btfFields(b.subarray(s.offset, s.offset + s.size)) : Array.from({ length: Math.floor(s.size / 4) }, (_, q) => ({ off: q * 4, what: `word ${q}` }));
      if (!fields.length) continue;
      const f = r.pick(fields);
      const v = r.chance(0.2) ? r.int(64) : r.chance(0.2) ? (dv.getUint32(s.offset + f.off, true) + 1 + r.int(4)) >>> 0 : r.pick(INTERESTING32);
      put32(s.offset + f.off, v);
      hows.push(`${s.name} ${f.what} = ${v}`);
    }
  }
  return { name: base.name, bytes, how: hows.join("; ") || "unchanged" };
}
