// The one parser and range check of `uringbpf run --set NAME=VALUE`, `--mem PATH=VALUE` and
// `--map NAME[KEY]PATH=VALUE`, for both engines: the userspace engine writes the values it returns, and
// the kernel path checks every assignment
// here before it starts the loader (which checks them again: it runs as root and trusts no caller), so a
// bad value gets the same message and exit code whichever engine runs the program.
//
// VALUE is a decimal or 0x-hex integer (optionally negative) or true/false; it must fit the target's type:
// unsigned 0..2^n-1, signed -2^(n-1)..2^(n-1)-1, bool 0..1. Nothing wraps.

import type { BtfType } from "../compiler/elf/reader";
import { resolveType, typeSize, type Image, type ImageGlobal } from "./engine/image";

/** A bad --set/--mem argument (a usage error: exit 2). */
export class AssignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssignError";
  }
}

/** An integer target: its size in bytes and how its bits read. */
export interface IntKind {
  size: number;
  signed: boolean;
  bool: boolean;
}

/** Split NAME=VALUE. */
export function splitAssign(flag: string, text: string): [string, string] {
  const i = text.indexOf("=");
  if (i <= 0) throw new AssignError(`${flag} expects NAME=VALUE, got '${text}'`);
  return [text.slice(0, i), text.slice(i + 1)];
}

/** Parse VALUE: an integer within 64 bits (decimal or 0x hex, optionally negative) or true/false. */
export function parseValue(flag: string, text: string, value: string): bigint {
  if (value === "true") return 1n;
  if (value === "false") return 0n;
  const m = /^(-?)(0x[0-9a-fA-F]+|[0-9]+)$/.exec(value);
  const v = m ? (m[1] ? -BigInt(m[2]) : BigInt(m[2])) : undefined;
  if (v === undefined || v < -(1n << 63n) || v >= 1n << 64n) throw new AssignError(`${flag} ${text}: bad value (a decimal or 0x hex integer within 64 bits, or true/false)`);
  return v;
}

/** The range of an integer kind, as text ("0..255", "-128..127", "0..1 or true/false"). */
export function rangeText(k: IntKind): string {
  if (k.bool) return "0..1 or true/false";
  const bits = BigInt(k.size * 8);
  return k.signed ? `${-(1n << (bits - 1n))}..${(1n << (bits - 1n)) - 1n}` : `0..${(1n << bits) - 1n}`;
}

/** Check `v` fits `k`; returns its two's-complement bits (unsigned, k.size bytes). */
export function checkRange(flag: string, text: string, what: string, v: bigint, k: IntKind): bigint {
  const bits = BigInt(k.size * 8);
  const ok = k.bool ? v === 0n || v === 1n : k.signed ? v >= -(1n << (bits - 1n)) && v < 1n << (bits - 1n) : v >= 0n && v < 1n << bits;
  if (!ok) throw new AssignError(`${flag} ${text}: value out of range for ${what} (${kindName(k)}: ${rangeText(k)})`);
  return BigInt.asUintN(k.size * 8, v);
}

function kindName(k: IntKind): string {
  return k.bool ? "bool" : `${k.signed ? "i" : "u"}${k.size * 8}`;
}

/** The integer kind of BTF type `id` (undefined when it is not an integer, enum, bool or pointer). */
export function intKindOf(btf: Map<number, BtfType>, id: number): IntKind | undefined {
  const t = resolveType(btf, id);
  if (!t) return undefined;
  if (t.kind === "INT" && [1, 2, 4, 8].includes(t.size!)) return { size: t.size!, signed: t.encoding === 1, bool: t.encoding === 4 };
  if ((t.kind === "ENUM" || t.kind === "ENUM64") && [1, 2, 4, 8].includes(t.size!)) return { size: t.size!, signed: !!t.kindFlag, bool: false };
  if (t.kind === "PTR") return { size: 8, signed: false, bool: false };
  return undefined;
}

/** The integer kind of a global (a variable without BTF: unsigned of its symbol's size). */
export function globalKind(img: Image, g: ImageGlobal): IntKind | undefined {
  if (g.type === 0) return [1, 2, 4, 8].includes(g.size) ? { size: g.size, signed: false, bool: false } : undefined;
  return intKindOf(img.btf, g.type);
}

/** A user global by name (hidden uringbpf_* globals are the loader's, not the user's). */
export function findUserGlobal(img: Image, flag: string, name: string): ImageGlobal {
  const g = img.globals.find((x) => x.name === name);
  if (!g) {
    const names = img.globals.filter((x) => !x.name.startsWith("uringbpf_")).map((x) => x.name);
    throw new AssignError(`${flag} ${name}: no global named '${name}' in the object (globals: ${names.join(", ") || "none"})`);
  }
  return g;
}

/** --set NAME=VALUE: the global and the bytes to write (little-endian, its size). */
export function resolveSet(img: Image, text: string): { global: ImageGlobal; bits: bigint; kind: IntKind } {
  const [name, value] = splitAssign("--set", text);
  const g = findUserGlobal(img, "--set", name);
  const kind = globalKind(img, g);
  if (!kind) throw new AssignError(`--set ${text}: global '${name}' is not an integer (${g.size} bytes)`);
  const v = parseValue("--set", text, value);
  return { global: g, bits: checkRange("--set", text, `global '${name}'`, v, kind), kind };
}

/** Walk a path (`count`, `hdr.len`, `slots[3]`: a field name, then .field or [index] steps; with
 *  `leadingDot`, every field step has its dot, as after `NAME[KEY]`) from BTF type `root`: the byte offset
 *  and the type it names. `fail` gets the message of a bad step. The one path syntax of --mem and --map. */
export function walkPath(btf: Map<number, BtfType>, root: BtfType, pathText: string, fail: (msg: string) => never, leadingDot = false): { off: number; type: BtfType } {
  const re = leadingDot ? /^((\[\d+\]|\.[A-Za-z_$][\w$]*))*$/ : /^[A-Za-z_$][\w$]*(\[\d+\]|\.[A-Za-z_$][\w$]*)*$/;
  if (!re.test(pathText)) fail(`bad path '${pathText}' (${leadingDot ? "" : "a field name, then "}.field or [index] steps)`);
  let t: BtfType = root;
  let off = 0;
  let where = "";
  for (const part of pathText.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (part.startsWith("[")) {
      if (t.kind !== "ARRAY") fail(`${where || "the value"} is not an array, before ${part}`);
      const i = Number(part.slice(1, -1));
      if (!(i < t.count!)) fail(`index ${part.slice(1, -1)} out of range (${where || "the array"} has ${t.count} elements)`);
      off += i * typeSize(btf, t.elem!);
      t = resolveType(btf, t.elem!)!;
    } else {
      const m = t.kind === "STRUCT" || t.kind === "UNION" ? t.members!.find((x) => x.name === part) : undefined;
      if (!m) fail(`no field '${part}'${where ? ` in ${where}` : ""}${t.kind === "STRUCT" ? ` (fields: ${t.members!.map((x) => x.name).join(", ")})` : ""}`);
      off += m.offset;
      t = resolveType(btf, m.type)!;
    }
    where += part.startsWith("[") || (!where && !leadingDot) ? part : `.${part}`;
    if (!t) fail("the BTF is broken");
  }
  return { off, type: t };
}

/** --mem PATH=VALUE through the MEM layout (count, hdr.len, slots[3], reqs[1].opcode): offset and bytes. */
export function resolveMem(img: Image, text: string, regionSize?: number): { off: number; bits: bigint; kind: IntKind } {
  const [pathText, value] = splitAssign("--mem", text);
  const fail = (msg: string): never => {
    throw new AssignError(`--mem ${text}: ${msg}`);
  };
  if (!img.memLayout) fail("the program has no MEM-region layout (ring.mem<T>())");
  const { off, type } = walkPath(img.btf, img.memLayout!, pathText, fail);
  const kind = intKindOf(img.btf, type.id);
  if (!kind) fail(`'${pathText}' is not an integer field`);
  const v = parseValue("--mem", text, value);
  const bits = checkRange("--mem", text, `field '${pathText}'`, v, kind!);
  const size = regionSize ?? img.memLayout!.size ?? 0;
  if (off + kind!.size > size) fail(`'${pathText}' lies outside the ${size}-byte region`);
  return { off, bits, kind: kind! };
}

/** A BTF-defined map as --map sees it: its type, entries and the key and value types. */
export interface MapShape {
  name: string;
  mapType: number;
  maxEntries: number;
  key?: BtfType;
  value?: BtfType;
}

/** The maps of DATASEC `.maps` (as libbpf's parse_btf_map_def reads them). */
export function mapShapes(img: Image): MapShape[] {
  const ds = img.obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".maps");
  const pointee = (id: number) => {
    const p = resolveType(img.btf, id);
    return p?.kind === "PTR" ? resolveType(img.btf, p.type!) : undefined;
  };
  const out: MapShape[] = [];
  for (const v of ds?.vars ?? []) {
    const vt = img.btf.get(v.type);
    const def = vt?.kind === "VAR" ? resolveType(img.btf, vt.type!) : undefined;
    if (!vt || def?.kind !== "STRUCT") continue;
    const member = (n: string) => def.members?.find((x) => x.name === n);
    const num = (n: string) => {
      const a = member(n) ? pointee(member(n)!.type) : undefined;
      return a?.kind === "ARRAY" ? a.count ?? 0 : 0;
    };
    out.push({ name: vt.name, mapType: num("type"), maxEntries: num("max_entries"), key: member("key") ? pointee(member("key")!.type) : undefined, value: member("value") ? pointee(member("value")!.type) : undefined });
  }
  return out;
}

/** One resolved --map preset: the entry's key bytes, and the value bytes to write where `mask` is 0xff
 *  (the entry's other bytes are kept; a new hash entry starts as zeros). */
export interface MapPreset {
  map: string;
  mapType: number;
  key: Uint8Array;
  value: Uint8Array;
  mask: Uint8Array;
}

const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_ARRAY = 2;

/**
 * --map NAME[KEY]PATH=VALUE (docs/LANGUAGE.md "Maps"): preset an entry of an array or hash map.
 *   KEY   an integer (range-checked against the key type; an array's index below max_entries), or
 *         {PATH=INT,...} for a struct key: each PATH as in --mem (`port`, `addr.hi`, `ids[1]`), fields not
 *         named are 0;
 *   PATH  .field / [index] steps into the value (empty: the value itself);
 *   VALUE an integer or true/false for an integer place, or {PATH=INT,...} for a struct place: the whole
 *         place is written, fields not named are 0.
 * Every integer is range-checked against its field's type. No spaces; quote the argument in a shell.
 */
export function resolveMapAssign(img: Image, text: string, shapes: MapShape[] = mapShapes(img)): MapPreset {
  const fail = (msg: string): never => {
    throw new AssignError(`--map ${text}: ${msg}`);
  };
  const m = /^([A-Za-z_$][\w$]*)\[(\{[^{}]*\}|[^\]{}]*)\]([^={}]*)=(.*)$/.exec(text);
  if (!m) fail("expected NAME[KEY]=VALUE, NAME[KEY].field=VALUE or NAME[{field=KEY,...}]={field=VALUE,...}");
  const [, name, keyText, pathText, valueText] = m!;
  const map = shapes.find((x) => x.name === name);
  if (!map) fail(`no map named '${name}' (maps: ${shapes.map((x) => x.name).join(", ") || "none"})`);
  if (map!.mapType !== BPF_MAP_TYPE_ARRAY && map!.mapType !== BPF_MAP_TYPE_HASH) fail(`${name} is not an array or hash map`);
  if (!map!.key || !map!.value) fail(`${name} has no BTF key or value type`);
  const keySize = typeSize(img.btf, map!.key!.id);
  const valueSize = typeSize(img.btf, map!.value!.id);
  const key = new Uint8Array(keySize);
  fillPlace(img, text, key, new Uint8Array(keySize), 0, map!.key!, keyText, `the key of ${name}`, fail);
  if (map!.mapType === BPF_MAP_TYPE_ARRAY) {
    const i = new DataView(key.buffer).getUint32(0, true);
    if (i >= map!.maxEntries) fail(`index ${i} out of range (${name} has ${map!.maxEntries} entries)`);
  }
  const { off, type } = walkPath(img.btf, map!.value!, pathText, fail, true);
  const value = new Uint8Array(valueSize);
  const mask = new Uint8Array(valueSize);
  fillPlace(img, text, value, mask, off, type, valueText, pathText ? `'${name}[${keyText}]${pathText}'` : `the value of ${name}`, fail);
  return { map: name, mapType: map!.mapType, key, value, mask };
}

/** Every `--map` of a run, resolved in order; a hash map the presets would fill past its max_entries is
 *  refused here (its maps start empty, so the count of distinct keys is what the kernel would see: -E2BIG). */
export function resolveMapAssigns(img: Image, texts: string[]): MapPreset[] {
  const shapes = mapShapes(img);
  const keys = new Map<string, Set<string>>();
  return texts.map((text) => {
    const p = resolveMapAssign(img, text, shapes);
    if (p.mapType === BPF_MAP_TYPE_HASH) {
      const seen = keys.get(p.map) ?? new Set<string>();
      keys.set(p.map, seen.add(Buffer.from(p.key).toString("hex")));
      const max = shapes.find((x) => x.name === p.map)!.maxEntries;
      if (seen.size > max) throw new AssignError(`--map ${text}: the map is full (${max} entries)`);
    }
    return p;
  });
}

/** Write `text` (an integer, or {PATH=INT,...} for a struct or array) into `bytes` at `off` as BTF type
 *  `t`, marking the bytes written (all of a braced place) in `mask`. */
function fillPlace(img: Image, full: string, bytes: Uint8Array, mask: Uint8Array, off: number, t: BtfType, text: string, what: string, fail: (msg: string) => never): void {
  const size = typeSize(img.btf, t.id);
  const kind = intKindOf(img.btf, t.id);
  if (!text.startsWith("{")) {
    if (!kind) fail(`${what} is ${t.kind === "STRUCT" ? "a struct: give {field=VALUE,...} or name a field" : t.kind === "ARRAY" ? "an array: give {[i]=VALUE,...} or name an element" : "not an integer"}`);
    const v = parseValue("--map", full, text);
    const bits = checkRange("--map", full, what, v, kind!);
    writeBits(bytes, off, kind!.size, bits);
    mask.fill(0xff, off, off + kind!.size);
    return;
  }
  if (kind || (t.kind !== "STRUCT" && t.kind !== "ARRAY")) fail(`${what} is an integer: give a number, not {...}`);
  if (!text.endsWith("}")) fail(`${what}: expected {field=VALUE,...}`);
  bytes.fill(0, off, off + size);
  mask.fill(0xff, off, off + size);
  const body = text.slice(1, -1);
  for (const item of body === "" ? [] : body.split(",")) {
    const eq = item.indexOf("=");
    if (eq <= 0) fail(`expected PATH=VALUE in {...}, got '${item}'`);
    const path = item.slice(0, eq);
    const f = walkPath(img.btf, t, path, fail, t.kind === "ARRAY");
    const k = intKindOf(img.btf, f.type.id);
    if (!k) fail(`'${path}' in ${what} is not an integer field`);
    const v = parseValue("--map", full, item.slice(eq + 1));
    writeBits(bytes, off + f.off, k!.size, checkRange("--map", full, `field '${path}' of ${what}`, v, k!));
  }
}

/** Write `bits` little-endian into bytes[off..off+size). */
export function writeBits(bytes: Uint8Array, off: number, size: number, bits: bigint): void {
  let x = bits;
  for (let i = 0; i < size; i++, x >>= 8n) bytes[off + i] = Number(x & 0xffn);
}
