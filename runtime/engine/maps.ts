// BPF maps for the interpreter with the kernel's semantics: BPF_MAP_TYPE_ARRAY (all entries present,
// value slots of round_up(value_size, 8) bytes, update flags BPF_ANY/BPF_EXIST, BPF_NOEXIST -> -EEXIST,
// delete -> -EINVAL), BPF_MAP_TYPE_HASH (up to max_entries keys, -E2BIG when full, -EEXIST/-ENOENT for
// NOEXIST/EXIST, each element its own memory region) and BPF_MAP_TYPE_RINGBUF (records of 8-byte headers
// plus data rounded up to 8 bytes in a buffer of max_entries bytes: reserve/output fail when it is full,
// nothing consumes during a run). The helpers (lookup 1, update 2, delete 3, ringbuf output/reserve/
// submit/discard 130-133) take the map's address from an ld_imm64 relocated against the map symbol.
// Maps are described from BTF (an object read back by the image) or from the compiler's module.

import type { CallHandler, Memory, Region } from "./interp";
import { decodeValue, ImageError, MAX_SECTION_BYTES, resolveType, typeSize, type Image } from "./image";

const E2BIG = 7n, ENOENT = 2n, EEXIST = 17n, EINVAL = 22n, EAGAIN = 11n;
const neg = (e: bigint) => BigInt.asUintN(64, -e);

/** A map's shape and how to print its keys and values. */
export interface MapSpec {
  name: string;
  mapType: number;
  maxEntries: number;
  keySize: number;
  valueSize: number;
  /** Ring buffers: the record size (from the record type), when known. */
  recordSize?: number;
  decodeKey?: (b: Uint8Array) => unknown;
  decodeValue?: (b: Uint8Array) => unknown;
}

interface HashEntry {
  key: Uint8Array;
  region: Region;
}
interface RingRecord {
  region: Region;
  state: "reserved" | "committed" | "discarded";
}

/** One map's state in the interpreter. */
export class EngineMap {
  /** The address the program's ld_imm64 of the map yields (a region of its own, never dereferenced). */
  readonly handle: Region;
  private array?: Region;
  private hash = new Map<string, HashEntry>();
  private records: RingRecord[] = [];
  private ringUsed = 0;

  constructor(readonly spec: MapSpec, private mem: Memory) {
    this.handle = mem.map(`map ${spec.name}`, new Uint8Array(0), false);
    if (spec.mapType === 2) this.array = mem.map(`map ${spec.name} values`, new Uint8Array(spec.maxEntries * this.slot()));
  }

  private slot(): number {
    return Math.ceil(this.spec.valueSize / 8) * 8;
  }

  private keyOf(bytes: Uint8Array): string {
    return Buffer.from(bytes).toString("hex");
  }

  /** bpf_map_lookup_elem: the value's address, or 0. */
  lookup(key: Uint8Array): bigint {
    if (this.array) {
      const i = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      return i < this.spec.maxEntries ? this.array.base + BigInt(i * this.slot()) : 0n;
    }
    const e = this.hash.get(this.keyOf(key));
    return e ? e.region.base : 0n;
  }

  /** bpf_map_update_elem: 0 or -errno. */
  update(key: Uint8Array, value: Uint8Array, flags: bigint): bigint {
    if (flags > 2n) return neg(EINVAL);
    if (this.array) {
      const i = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      if (i >= this.spec.maxEntries) return neg(E2BIG);
      if (flags === 1n) return neg(EEXIST);
      this.array.bytes.set(value.subarray(0, this.spec.valueSize), i * this.slot());
      return 0n;
    }
    const k = this.keyOf(key);
    const e = this.hash.get(k);
    if (e && flags === 1n) return neg(EEXIST);
    if (!e && flags === 2n) return neg(ENOENT);
    if (e) {
      e.region.bytes.set(value.subarray(0, this.spec.valueSize));
      return 0n;
    }
    if (this.hash.size >= this.spec.maxEntries) return neg(E2BIG);
    const region = this.mem.map(`map ${this.spec.name} element`, Uint8Array.from(value.subarray(0, this.spec.valueSize)));
    this.hash.set(k, { key: Uint8Array.from(key), region });
    return 0n;
  }

  /** bpf_map_delete_elem: 0 or -errno (arrays cannot delete). The element's memory stays mapped, as the
   *  kernel's stays valid until an RCU grace period: a program using it reads stale data, no crash. */
  delete(key: Uint8Array): bigint {
    if (this.array) return neg(EINVAL);
    return this.hash.delete(this.keyOf(key)) ? 0n : neg(ENOENT);
  }

  private ringSpace(size: number): boolean {
    const need = 8 + Math.ceil(size / 8) * 8;
    if (this.ringUsed + need > this.spec.maxEntries) return false;
    this.ringUsed += need;
    return true;
  }

  /** bpf_ringbuf_reserve: a record's address, or 0 when the buffer is full (or flags are not 0). */
  reserve(size: number, flags: bigint): bigint {
    if (flags !== 0n || size <= 0 || !this.ringSpace(size)) return 0n;
    const region = this.mem.map(`ring buffer ${this.spec.name} record`, new Uint8Array(size));
    this.records.push({ region, state: "reserved" });
    return region.base;
  }

  /** bpf_ringbuf_output: 0, -EAGAIN when full, -EINVAL for bad flags. */
  output(data: Uint8Array, flags: bigint): bigint {
    if (flags & ~3n) return neg(EINVAL);
    if (!this.ringSpace(data.length)) return neg(EAGAIN);
    const region = this.mem.map(`ring buffer ${this.spec.name} record`, Uint8Array.from(data), false);
    this.records.push({ region, state: "committed" });
    return 0n;
  }

  /** bpf_ringbuf_submit / bpf_ringbuf_discard of the record at `addr`. */
  commit(addr: bigint, discard: boolean): string | undefined {
    const r = this.records.find((x) => x.region.base === addr);
    if (!r || r.state !== "reserved") return `ringbuf ${discard ? "discard" : "submit"} of a pointer that is not a reserved record of ${this.spec.name}`;
    r.state = discard ? "discarded" : "committed";
    r.region.writable = false;
    return undefined;
  }

  /** Whether `addr` is a record of this ring buffer. */
  owns(addr: bigint): boolean {
    return this.records.some((x) => x.region.base === addr);
  }

  /** Preset an entry (`--map`, resolved by runtime/assign.ts): write `value`'s bytes where `mask` is set
   *  over the entry's value (a new hash entry starts as zeros). */
  preset(key: Uint8Array, value: Uint8Array, mask: Uint8Array): string | undefined {
    if (this.spec.mapType !== 1 && this.spec.mapType !== 2) return `${this.spec.name} is not an array or hash map`;
    let addr = this.lookup(key);
    if (addr === 0n) {
      if (this.array) return `index out of range (${this.spec.name} has ${this.spec.maxEntries} entries)`;
      const r = this.update(key, new Uint8Array(this.spec.valueSize), 0n);
      if (r !== 0n) return `the map is full (${this.spec.maxEntries} entries)`;
      addr = this.lookup(key);
    }
    const region = this.array ?? this.hash.get(this.keyOf(key))!.region;
    const at = Number(addr - region.base);
    for (let i = 0; i < this.spec.valueSize; i++) if (mask[i]) region.bytes[at + i] = value[i];
    return undefined;
  }

  /** The contents as the loader prints them: arrays as lists, hashes as {key, value} sorted by key (as
   *  little-endian unsigned numbers), ring buffers as committed records in buffer order. */
  dump(): unknown[] {
    const dv = this.spec.decodeValue ?? ((b: Uint8Array) => Buffer.from(b).toString("hex"));
    const dk = this.spec.decodeKey ?? ((b: Uint8Array) => Buffer.from(b).toString("hex"));
    if (this.array) return [...Array(this.spec.maxEntries)].map((_, i) => dv(this.array!.bytes.subarray(i * this.slot(), i * this.slot() + this.spec.valueSize)));
    if (this.spec.mapType === 27) return this.records.filter((r) => r.state === "committed").map((r) => (this.spec.recordSize === r.region.bytes.length ? dv(r.region.bytes) : Buffer.from(r.region.bytes).toString("hex")));
    const le = (b: Uint8Array) => [...b].reverse().reduce((n, x) => (n << 8n) | BigInt(x), 0n);
    return [...this.hash.values()].sort((a, b) => (le(a.key) < le(b.key) ? -1 : le(a.key) > le(b.key) ? 1 : 0)).map((e) => ({ key: dk(e.key), value: dv(e.region.bytes) }));
  }
}

/** The maps of one run: by name, by handle address, and the helpers that work on them. */
export class EngineMaps {
  readonly byName = new Map<string, EngineMap>();
  private byHandle = new Map<bigint, EngineMap>();

  constructor(specs: MapSpec[], private mem: Memory) {
    for (const s of specs) {
      const m = new EngineMap(s, mem);
      this.byName.set(s.name, m);
      this.byHandle.set(m.handle.base, m);
    }
  }

  /** The address an ld_imm64 of map `name` loads, or undefined when it is not a map. */
  address(name: string): bigint | undefined {
    return this.byName.get(name)?.handle.base;
  }

  private bytes(addr: bigint, size: number, what: string): Uint8Array {
    const x = this.mem.resolve(addr, size, false);
    if (typeof x === "string") throw new Error(`${what}: ${x}`);
    return x.r.bytes.slice(x.off, x.off + size);
  }

  private map(addr: bigint, helper: string): EngineMap {
    const m = this.byHandle.get(addr);
    if (!m) throw new Error(`${helper} on something that is not a map (0x${addr.toString(16)})`);
    return m;
  }

  /** Helpers 1-3 and 130-133, by id. */
  helpers(): Record<number, CallHandler> {
    const key = (m: EngineMap, a: bigint, h: string) => this.bytes(a, m.spec.keySize, `${h} key`);
    return {
      1: (a) => { const m = this.map(a[0], "bpf_map_lookup_elem"); return m.lookup(key(m, a[1], "bpf_map_lookup_elem")); },
      2: (a) => { const m = this.map(a[0], "bpf_map_update_elem"); return m.update(key(m, a[1], "bpf_map_update_elem"), this.bytes(a[2], m.spec.valueSize, "bpf_map_update_elem value"), a[3]); },
      3: (a) => { const m = this.map(a[0], "bpf_map_delete_elem"); return m.delete(key(m, a[1], "bpf_map_delete_elem")); },
      130: (a) => this.map(a[0], "bpf_ringbuf_output").output(this.bytes(a[1], Number(a[2]), "bpf_ringbuf_output data"), a[3]),
      131: (a) => this.map(a[0], "bpf_ringbuf_reserve").reserve(Number(a[1]), a[2]),
      132: (a) => this.commit(a[0], false),
      133: (a) => this.commit(a[0], true),
    };
  }

  private commit(addr: bigint, discard: boolean): bigint {
    for (const m of this.byName.values()) if (m.owns(addr)) {
      const err = m.commit(addr, discard);
      if (err) throw new Error(err);
      return 0n;
    }
    throw new Error(`bpf_ringbuf_${discard ? "discard" : "submit"} of a pointer that is not a reserved record`);
  }

  /** Every map's contents, by name. */
  dump(): Record<string, unknown[]> {
    return Object.fromEntries([...this.byName].map(([n, m]) => [n, m.dump()]));
  }

  /** Apply a `--map` preset resolved by runtime/assign.ts (`text` names it in errors). */
  preset(text: string, p: { map: string; key: Uint8Array; value: Uint8Array; mask: Uint8Array }): void {
    const map = this.byName.get(p.map);
    const err = map ? map.preset(p.key, p.value, p.mask) : `no map named '${p.map}'`;
    if (err) throw new Error(`--map ${text}: ${err}`);
  }
}

/** The maps of an object read back from its bytes: DATASEC `.maps` in BTF, as libbpf reads them. */
export function imageMapSpecs(img: Image): MapSpec[] {
  const ds = img.obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".maps");
  if (!ds) return [];
  const specs: MapSpec[] = [];
  const num = (id: number) => {
    const p = resolveType(img.btf, id);
    const a = p?.kind === "PTR" ? resolveType(img.btf, p.type!) : undefined;
    return a?.kind === "ARRAY" ? a.count ?? 0 : 0;
  };
  const pointee = (id: number) => {
    const p = resolveType(img.btf, id);
    return p?.kind === "PTR" ? p.type! : undefined;
  };
  for (const v of ds.vars ?? []) {
    const vt = img.btf.get(v.type);
    const def = vt?.kind === "VAR" ? resolveType(img.btf, vt.type!) : undefined;
    if (!vt || def?.kind !== "STRUCT") continue;
    const member = (n: string) => def.members?.find((x) => x.name === n);
    const mapType = member("type") ? num(member("type")!.type) : 0;
    const maxEntries = member("max_entries") ? num(member("max_entries")!.type) : 0;
    const keyType = member("key") ? pointee(member("key")!.type) : undefined;
    const valueType = member("value") ? pointee(member("value")!.type) : undefined;
    let recordType: number | undefined;
    const rec = img.globals.find((g) => g.name === `uringbpf_rec_${vt.name}`);
    if (rec) recordType = pointee(rec.type);
    const vtype = mapType === 27 ? recordType : valueType;
    const spec: MapSpec = {
      name: vt.name,
      mapType,
      maxEntries,
      keySize: keyType !== undefined ? typeSize(img.btf, keyType) : member("key_size") ? num(member("key_size")!.type) : mapType === 2 ? 4 : 0,
      valueSize: valueType !== undefined ? typeSize(img.btf, valueType) : member("value_size") ? num(member("value_size")!.type) : 0,
      recordSize: recordType !== undefined ? typeSize(img.btf, recordType) : undefined,
      decodeKey: keyType !== undefined ? (b) => decodeValue(img.btf, keyType, b, 0) : undefined,
      decodeValue: vtype !== undefined ? (b) => decodeValue(img.btf, vtype, b, 0) : undefined,
    };
    // What the map allocates is bounded like a data section: an object asking for more is refused, not
    // allocated (a BTF INT of 2^31 bytes as an array map's value made a 16 GiB typed array).
    const bytes = mapType === 2 ? spec.maxEntries * Math.ceil(spec.valueSize / 8) * 8 : Math.max(spec.keySize, spec.valueSize, spec.recordSize ?? 0);
    if (!(bytes <= MAX_SECTION_BYTES)) throw new ImageError(`map ${spec.name} values: ${bytes} bytes (the engine maps at most ${MAX_SECTION_BYTES})`);
    specs.push(spec);
  }
  return specs;
}
