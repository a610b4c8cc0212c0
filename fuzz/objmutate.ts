// Object mutation for the fuzz harness: bit flips confined to one section, truncation, and edits of the
// structural fields (ELF header, section headers, symbols, relocations, the BTF header and every type
// record, BTF.ext header) to boundary values, sizes past the end, small and off-by-one values. Where the
// fields are comes from test/support/objmutate.ts (the loader's hostile-input tests use the same walk);
// this file only chooses the edits, from the harness's seeded Rng, several per mutant.

import { boundaryValues, sections, sites, withField } from "../test/support/objmutate";
import type { Rng } from "../test/support/progen";

export interface ObjInput {
  name: string;
  bytes: Uint8Array;
  how: string;
}

/** Field sites and sections of each base object (computed once: the bases are our own, well-formed). */
const cache = new WeakMap<Uint8Array, { sites: ReturnType<typeof sites>; secs: ReturnType<typeof sections> }>();

function layout(bytes: Uint8Array) {
  let l = cache.get(bytes);
  if (!l) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    l = { sites: sites(b), secs: sections(b).filter((s) => s.index > 0 && s.size > 0 && s.type !== 8) };
    cache.set(bytes, l);
  }
  return l;
}

/** One mutant of an object: one to three edits. */
export function mutateObject(r: Rng, base: { name: string; bytes: Uint8Array }): ObjInput {
  const { sites: fields, secs } = layout(base.bytes);
  let b: Buffer = Buffer.from(base.bytes);
  const hows: string[] = [];
  const n = 1 + r.int(3);
  for (let k = 0; k < n; k++) {
    const kind = r.int(10);
    if (kind <= 2 && secs.length) {
      const s = r.pick(secs);
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) {
        const at = s.offset + r.int(s.size);
        if (at < b.length) b[at] ^= 1 << r.int(8);
      }
      hows.push(`${flips} bit flips in ${s.name}`);
    } else if (kind === 3) {
      const len = r.chance(0.5) ? r.int(b.length) : b.length - 1 - r.int(Math.min(64, b.length));
      b = b.subarray(0, Math.max(0, len));
      hows.push(`truncate to ${b.length}`);
    } else if (fields.length) {
      const site = r.pick(fields);
      if (site.at + site.width > b.length) continue;
      const cur = site.width === 2 ? BigInt(b.readUInt16LE(site.at)) : site.width === 4 ? BigInt(b.readUInt32LE(site.at)) : b.readBigUInt64LE(site.at);
      const v = r.chance(0.6) ? r.pick(boundaryValues(site.width, b.length)) : r.chance(0.5) ? cur + BigInt(1 + r.int(4)) : BigInt(r.int(64));
      b = withField(b, site, v);
      hows.push(`${site.what} = ${v}`);
    }
  }
  return { name: base.name, bytes: new Uint8Array(b), how: hows.join("; ") || "unchanged" };
}
