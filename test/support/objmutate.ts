// Object mutation for the loader's hostile-input tests: the file offsets of every structural field of a
// BPF ELF object (ELF header, section headers, symbols, relocations, the BTF header, every BTF type
// record and its members, array counts, DATASEC entries), and mutants built from them (field edits to
// boundary values, bit flips inside each section, truncations). The walk is written for objects we
// trust (the unmutated input) and so may assume a well-formed layout.

/** One field of the object: `at` is the byte offset in the file. */
export interface Site {
  what: string;
  at: number;
  width: 2 | 4 | 8;
}

export interface Section {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
  entsize: number;
  info: number;
  headerAt: number;
}

export interface Mutant {
  what: string;
  data: Buffer;
}

const SHT_SYMTAB = 2;
const SHT_REL = 9;
const SHT_NOBITS = 8;

export function sections(obj: Buffer): Section[] {
  const shoff = Number(obj.readBigUInt64LE(0x28));
  const shnum = obj.readUInt16LE(0x3c);
  const shstrndx = obj.readUInt16LE(0x3e);
  const raw: (Omit<Section, "name"> & { nameOff: number })[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    raw.push({
      index: i,
      nameOff: obj.readUInt32LE(h),
      type: obj.readUInt32LE(h + 4),
      offset: Number(obj.readBigUInt64LE(h + 24)),
      size: Number(obj.readBigUInt64LE(h + 32)),
      info: obj.readUInt32LE(h + 44),
      entsize: Number(obj.readBigUInt64LE(h + 56)),
      headerAt: h,
    });
  }
  const str = raw[shstrndx];
  const name = (off: number) => {
    const s = str.offset + off;
    return obj.subarray(s, obj.indexOf(0, s)).toString("latin1");
  };
  return raw.map(({ nameOff, ...r }) => ({ ...r, name: name(nameOff) }));
}

/** Every structural field, by name. */
export function sites(obj: Buffer): Site[] {
  const out: Site[] = [];
  const add = (what: string, at: number, width: 2 | 4 | 8) => out.push({ what, at, width });
  add("e_shoff", 0x28, 8);
  add("e_shentsize", 0x3a, 2);
  add("e_shnum", 0x3c, 2);
  add("e_shstrndx", 0x3e, 2);
  const secs = sections(obj);
  for (const s of secs) {
    if (s.index === 0) continue;
    const h = s.headerAt;
    add(`${s.name}.sh_name`, h, 4);
    add(`${s.name}.sh_offset`, h + 24, 8);
    add(`${s.name}.sh_size`, h + 32, 8);
    add(`${s.name}.sh_link`, h + 40, 4);
    add(`${s.name}.sh_info`, h + 44, 4);
    add(`${s.name}.sh_entsize`, h + 56, 8);
    if (s.type === SHT_SYMTAB) {
      for (let k = 1; k < s.size / 24; k++) {
        const e = s.offset + k * 24;
        add(`sym${k}.st_name`, e, 4);
        add(`sym${k}.st_shndx`, e + 6, 2);
        add(`sym${k}.st_value`, e + 8, 8);
        add(`sym${k}.st_size`, e + 16, 8);
      }
    }
    if (s.type === SHT_REL) {
      for (let k = 0; k < s.size / 16; k++) {
        add(`${s.name}[${k}].r_offset`, s.offset + k * 16, 8);
        add(`${s.name}[${k}].r_sym`, s.offset + k * 16 + 12, 4);
      }
    }
  }
  const btf = secs.find((s) => s.name === ".BTF");
  if (btf) out.push(...btfSites(obj, btf.offset));
  const ext = secs.find((s) => s.name === ".BTF.ext");
  if (ext) for (let k = 4; k < 32; k += 4) add(`BTF.ext header+${k}`, ext.offset + k, 4);
  return out;
}

/** The fields of the .BTF section starting at file offset `b`. */
export function btfSites(obj: Buffer, b: number): Site[] {
  const out: Site[] = [];
  const add = (what: string, at: number, width: 2 | 4 | 8 = 4) => out.push({ what, at, width });
  const hdr = obj.readUInt32LE(b + 4);
  for (const [k, n] of [[4, "hdr_len"], [8, "type_off"], [12, "type_len"], [16, "str_off"], [20, "str_len"]] as const) add(`BTF.${n}`, b + k);
  const t0 = b + hdr + obj.readUInt32LE(b + 8);
  const tlen = obj.readUInt32LE(b + 12);
  let p = t0;
  for (let id = 1; p < t0 + tlen; id++) {
    const info = obj.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const k = KINDS[kind] ?? `kind${kind}`;
    add(`[${id}] ${k}.name_off`, p);
    add(`[${id}] ${k}.info`, p + 4);
    add(`[${id}] ${k}.${SIZED.has(kind) ? "size" : "type"}`, p + 8);
    let extra = 0;
    switch (kind) {
      case 1: add(`[${id}] INT.bits`, p + 12); extra = 4; break;
      case 3: add(`[${id}] ARRAY.elem_type`, p + 12); add(`[${id}] ARRAY.index_type`, p + 16); add(`[${id}] ARRAY.nelems`, p + 20); extra = 12; break;
      case 4: case 5:
        for (let m = 0; m < vlen; m++) {
          add(`[${id}] ${k} member ${m}.name_off`, p + 12 + m * 12);
          add(`[${id}] ${k} member ${m}.type`, p + 16 + m * 12);
          add(`[${id}] ${k} member ${m}.offset`, p + 20 + m * 12);
        }
        extra = vlen * 12;
        break;
      case 6: extra = vlen * 8; break;
      case 13: for (let m = 0; m < vlen; m++) add(`[${id}] FUNC_PROTO param ${m}.type`, p + 16 + m * 8); extra = vlen * 8; break;
      case 14: add(`[${id}] VAR.linkage`, p + 12); extra = 4; break;
      case 15:
        for (let m = 0; m < vlen; m++) {
          add(`[${id}] DATASEC var ${m}.type`, p + 12 + m * 12);
          add(`[${id}] DATASEC var ${m}.offset`, p + 16 + m * 12);
          add(`[${id}] DATASEC var ${m}.size`, p + 20 + m * 12);
        }
        extra = vlen * 12;
        break;
      case 17: extra = 4; break;
      case 19: extra = vlen * 12; break;
    }
    p += 12 + extra;
  }
  return out;
}

const KINDS: Record<number, string> = {
  1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD", 8: "TYPEDEF", 9: "VOLATILE", 10: "CONST",
  11: "RESTRICT", 12: "FUNC", 13: "FUNC_PROTO", 14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG", 19: "ENUM64",
};
const SIZED = new Set([1, 4, 5, 6, 15, 16, 19]);

/** Boundary values for a field of `width` bytes in an object of `len` bytes. */
export function boundaryValues(width: 2 | 4 | 8, len: number): bigint[] {
  if (width === 2) return [0n, 1n, 0x7fffn, 0xfeffn, 0xffffn];
  const v = [0n, 1n, 3n, 40n * 8n, 72n, BigInt(len), BigInt(len + 1), 0x7fffffffn, 0x80000000n, 0xfffffff8n, 0xffffffffn];
  if (width === 8) v.push(0x8000000000000000n, 0xfffffffffffffff8n, 0xffffffffffffffffn);
  return v;
}

export function withField(obj: Buffer, site: Site, value: bigint): Buffer {
  const d = Buffer.from(obj);
  if (site.width === 2) d.writeUInt16LE(Number(value & 0xffffn), site.at);
  else if (site.width === 4) d.writeUInt32LE(Number(value & 0xffffffffn), site.at);
  else d.writeBigUInt64LE(value & 0xffffffffffffffffn, site.at);
  return d;
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `perSite` boundary-value edits of every field (chosen by seed), `flips` single-bit flips in each
 * section with data, and truncations at every section boundary and a few random lengths. */
export function mutants(obj: Buffer, seed: number, opts: { perSite?: number; flips?: number; truncations?: number } = {}): Mutant[] {
  const r = rng(seed);
  const out: Mutant[] = [];
  for (const s of sites(obj)) {
    const vals = boundaryValues(s.width, obj.length);
    for (let i = 0; i < (opts.perSite ?? 2); i++) {
      const v = vals[Math.floor(r() * vals.length)];
      out.push({ what: `${s.what} = ${v}`, data: withField(obj, s, v) });
    }
  }
  for (const s of sections(obj)) {
    if (s.index === 0 || s.type === SHT_NOBITS || s.size === 0) continue;
    for (let i = 0; i < (opts.flips ?? 4); i++) {
      const byte = s.offset + Math.floor(r() * s.size);
      const bit = Math.floor(r() * 8);
      const d = Buffer.from(obj);
      d[byte] ^= 1 << bit;
      out.push({ what: `${s.name}: bit ${bit} of byte ${byte - s.offset} flipped`, data: d });
    }
  }
  const cuts = new Set<number>();
  for (const s of sections(obj)) if (s.offset > 0 && s.offset < obj.length) cuts.add(s.offset).add(s.offset + 1);
  for (let i = 0; i < (opts.truncations ?? 6); i++) cuts.add(Math.floor(r() * obj.length));
  for (const c of [...cuts].sort((a, b) => a - b)) out.push({ what: `truncated to ${c} bytes`, data: obj.subarray(0, c) });
  return out;
}

/** The BTF types of an object: id, kind name, name, the file offset of the record and its members. */
export interface BtfRecord {
  id: number;
  kind: string;
  name: string;
  at: number;
  vlen: number;
  /** Members / DATASEC entries / params: name (when they have one) and the record's file offset. */
  items: { name: string; at: number }[];
}

export function btfTypes(obj: Buffer): BtfRecord[] {
  const btf = sections(obj).find((s) => s.name === ".BTF");
  if (!btf) return [];
  const b = btf.offset;
  const hdr = obj.readUInt32LE(b + 4);
  const t0 = b + hdr + obj.readUInt32LE(b + 8);
  const tlen = obj.readUInt32LE(b + 12);
  const s0 = b + hdr + obj.readUInt32LE(b + 16);
  const str = (off: number) => obj.subarray(s0 + off, obj.indexOf(0, s0 + off)).toString("utf8");
  const out: BtfRecord[] = [];
  let p = t0;
  for (let id = 1; p < t0 + tlen; id++) {
    const info = obj.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const rec: BtfRecord = { id, kind: KINDS[kind] ?? `kind${kind}`, name: str(obj.readUInt32LE(p)), at: p, vlen, items: [] };
    let extra = 0;
    if (kind === 1 || kind === 14 || kind === 17) extra = 4;
    else if (kind === 3) extra = 12;
    else if (kind === 4 || kind === 5) {
      for (let m = 0; m < vlen; m++) rec.items.push({ name: str(obj.readUInt32LE(p + 12 + m * 12)), at: p + 12 + m * 12 });
      extra = vlen * 12;
    } else if (kind === 6 || kind === 13) extra = vlen * 8;
    else if (kind === 15) {
      for (let m = 0; m < vlen; m++) rec.items.push({ name: "", at: p + 12 + m * 12 });
      extra = vlen * 12;
    } else if (kind === 19) extra = vlen * 12;
    out.push(rec);
    p += 12 + extra;
  }
  return out;
}

/** The symbol table entries: name and the file offset of each entry. */
export function symbols(obj: Buffer): { name: string; at: number; shndx: number }[] {
  const secs = sections(obj);
  const st = secs.find((s) => s.type === SHT_SYMTAB);
  if (!st) return [];
  const strtab = secs[obj.readUInt32LE(st.headerAt + 40)];
  const out = [];
  for (let k = 1; k < st.size / 24; k++) {
    const e = st.offset + k * 24;
    const n = strtab.offset + obj.readUInt32LE(e);
    out.push({ name: obj.subarray(n, obj.indexOf(0, n)).toString("utf8"), at: e, shndx: obj.readUInt16LE(e + 6) });
  }
  return out;
}

/** The objects of issue 17 that crash libbpf 1.4.6 (init_struct_ops_maps; bpf_object_open), with the
 * loader's message for each. Used by test/loader-hostile.test.ts (host) and test/loader-vm.test.ts (kernel). */
export function hostileLibbpfObjects(obj: Buffer): [string, Buffer, RegExp][] {
  const types = btfTypes(obj);
  const ds = types.find((t) => t.kind === "DATASEC" && t.name === ".struct_ops.link")!;
  const ops = withField(obj, { what: "offset", at: ds.items[0].at + 4, width: 4 }, 0xfffffff8n);
  const prog = symbols(obj).find((s) => s.name === "nops")!;
  const sym = withField(obj, { what: "st_value", at: prog.at + 8, width: 8 }, 0xfffffffffffffff8n);
  return [
    ["struct-ops-offset.o", ops, /BTF DATASEC '.struct_ops.link' variable '\w+': offset 4294967288 \+ size \d+ lies outside/],
    ["symbol-value.o", sym, /symbol 'nops': value 18446744073709551608 \+ size \d+ lies outside its section/],
  ];
}

/** `n` of `all`, chosen by `seed` (all of them when there are no more than n), in their original order. */
export function pick<T>(all: T[], n: number, seed: number): T[] {
  if (all.length <= n) return all;
  const r = rng(seed);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(r() * all.length));
  return [...picked].sort((a, b) => a - b).map((i) => all[i]);
}
