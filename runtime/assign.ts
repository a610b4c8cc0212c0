// The one parser and range check of `uringbpf run --set NAME=VALUE` and `--mem PATH=VALUE`, for both
// engines: the userspace engine writes the values it returns, and the kernel path checks every assignment
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

/** --mem PATH=VALUE through the MEM layout (count, hdr.len, slots[3], reqs[1].opcode): offset and bytes. */
export function resolveMem(img: Image, text: string, regionSize?: number): { off: number; bits: bigint; kind: IntKind } {
  const [pathText, value] = splitAssign("--mem", text);
  if (!img.memLayout) throw new AssignError(`--mem ${text}: the program has no MEM-region layout (ring.mem<T>())`);
  let t: BtfType = img.memLayout;
  let off = 0;
  if (!/^[A-Za-z_$][\w$]*(\[\d+\]|\.[A-Za-z_$][\w$]*)*$/.test(pathText)) throw new AssignError(`--mem ${text}: bad path '${pathText}' (a field name, then .field or [index] steps)`);
  const parts = pathText.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  for (const part of parts) {
    if (part.startsWith("[")) {
      if (t.kind !== "ARRAY") throw new AssignError(`--mem ${text}: not an array before ${part}`);
      const i = Number(part.slice(1, -1));
      if (!(i < t.count!)) throw new AssignError(`--mem ${text}: index ${part.slice(1, -1)} out of range (${t.count} elements)`);
      off += i * typeSize(img.btf, t.elem!);
      t = resolveType(img.btf, t.elem!)!;
    } else {
      const m = t.kind === "STRUCT" || t.kind === "UNION" ? t.members!.find((x) => x.name === part) : undefined;
      if (!m) throw new AssignError(`--mem ${text}: no field '${part}'${t.kind === "STRUCT" ? ` (fields: ${t.members!.map((x) => x.name).join(", ")})` : ""}`);
      off += m.offset;
      t = resolveType(img.btf, m.type)!;
    }
    if (!t) throw new AssignError(`--mem ${text}: the layout's BTF is broken`);
  }
  const kind = intKindOf(img.btf, t.id);
  if (!kind) throw new AssignError(`--mem ${text}: '${pathText}' is not an integer field`);
  const v = parseValue("--mem", text, value);
  const bits = checkRange("--mem", text, `field '${pathText}'`, v, kind);
  const size = regionSize ?? img.memLayout.size ?? 0;
  if (off + kind.size > size) throw new AssignError(`--mem ${text}: '${pathText}' lies outside the ${size}-byte region`);
  return { off, bits, kind };
}

/** Write `bits` little-endian into bytes[off..off+size). */
export function writeBits(bytes: Uint8Array, off: number, size: number, bits: bigint): void {
  let x = bits;
  for (let i = 0; i < size; i++, x >>= 8n) bytes[off + i] = Number(x & 0xffn);
}
