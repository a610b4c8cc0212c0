// The DSL's types and C's conversion rules over them: fixed-width integers, bool, and the ring views
// (pointers into kernel memory the program may only use through the ring API). Also constant folding with
// the same wrap-around semantics the generated code has, so folded and run-time results agree.

import type { Width } from "../ir/ir";
import type { ArrayLayout, BoolType, IntName, IntType, StructLayout, ValueType } from "../ir/module";

// The scalar types are the IR's; the front end adds the ring views.
export type { BoolType, IntName, IntType } from "../ir/module";

/** Ring views: pointers with a meaning. */
export type ViewKind = "ring" | "lp" | "sq" | "cq" | "sqe" | "cqe" | "struct" | "array";
export interface ViewType {
  kind: "view";
  view: ViewKind;
  /** For "struct" views (the MEM region and structs inside it). */
  layout?: StructLayout;
  /** For "array" views (FixedArray fields). */
  array?: ArrayLayout;
  /** For "struct" and "array" views: the memory they point into (atomics and map rules depend on it). */
  origin?: ViewOrigin;
}
/** Where a struct view points: the MEM region, a map value (with the map's name), a ring-buffer record. */
export type ViewOrigin = "mem" | { map: string; kind: "value" | "record" };
export interface VoidType {
  kind: "void";
}
export interface NullType {
  kind: "null";
}
export type DslType = IntType | BoolType | ViewType | VoidType | NullType;

function int(name: IntName): IntType {
  const bits = Number(name.slice(1)) as IntType["bits"];
  return { kind: "int", name, bits, signed: name[0] === "i" };
}

export const T = {
  u8: int("u8"), u16: int("u16"), u32: int("u32"), u64: int("u64"),
  i8: int("i8"), i16: int("i16"), i32: int("i32"), i64: int("i64"),
  bool: { kind: "bool" } as BoolType,
  void: { kind: "void" } as VoidType,
  null: { kind: "null" } as NullType,
};

export const INT_NAMES: readonly IntName[] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

export function isIntName(s: string): s is IntName {
  return (INT_NAMES as readonly string[]).includes(s);
}

export function view(v: ViewKind): ViewType {
  return { kind: "view", view: v };
}

/** Register width that holds a value of this type. */
export function widthOf(t: DslType): Width {
  if (t.kind === "int") return t.bits === 64 ? 64 : 32;
  if (t.kind === "view" || t.kind === "null") return 64;
  return 32;
}

export function typeName(t: DslType): string {
  if (t.kind === "int") return t.name;
  if (t.kind === "view") return t.layout ? t.layout.name : t.array ? "FixedArray" : t.view;
  return t.kind;
}

/** C's integer promotion: types narrower than 32 bits (and bool) compute as i32. */
export function promote(t: IntType | BoolType): IntType {
  if (t.kind === "bool") return T.i32;
  return t.bits < 32 ? T.i32 : t;
}

/** C's usual arithmetic conversions for two (promoted) operands of the same width family. */
export function common(a: IntType | BoolType, b: IntType | BoolType): IntType {
  const pa = promote(a);
  const pb = promote(b);
  if (pa.bits !== pb.bits) return pa.bits > pb.bits ? pa : pb;
  if (pa.signed === pb.signed) return pa;
  return pa.signed ? pb : pa;
}

/** Wrap an arbitrary-precision value to a type's range (two's complement). */
export function wrap(t: IntType | BoolType, v: bigint): bigint {
  if (t.kind === "bool") return v !== 0n ? 1n : 0n;
  return t.signed ? BigInt.asIntN(t.bits, v) : BigInt.asUintN(t.bits, v);
}

/** Whether a value fits a type without wrapping. */
export function fits(t: IntType | BoolType, v: bigint): boolean {
  if (t.kind === "bool") return v === 0n || v === 1n;
  return wrap(t, v) === v;
}

/** Fold a binary operator on two constants of type `t` with the generated code's semantics. */
export function foldBinary(op: string, t: IntType, a: bigint, b: bigint): bigint | boolean {
  const w = (v: bigint) => wrap(t, v);
  const bits = BigInt(t.bits < 32 ? 32 : t.bits);
  a = w(a);
  b = w(b);
  switch (op) {
    case "+": return w(a + b);
    case "-": return w(a - b);
    case "*": return w(a * b);
    case "/": return b === 0n ? 0n : w(a / b);
    case "%": return b === 0n ? a : w(a % b);
    case "&": return w(a & b);
    case "|": return w(a | b);
    case "^": return w(a ^ b);
    case "<<": return w(a << (BigInt.asUintN(64, b) % bits));
    case ">>": return w(a >> (BigInt.asUintN(64, b) % bits));
    case ">>>": return w(BigInt.asUintN(Number(bits), a) >> (BigInt.asUintN(64, b) % bits));
    case "<": return a < b;
    case "<=": return a <= b;
    case ">": return a > b;
    case ">=": return a >= b;
    case "==": case "===": return a === b;
    case "!=": case "!==": return a !== b;
  }
  throw new Error(`internal: cannot fold ${op}`);
}

/** The scalar type a type annotation names (`u32`, `bool`...), if it names one. */
export function scalarTypeFromName(name: string): IntType | BoolType | undefined {
  if (name === "bool" || name === "boolean") return T.bool;
  if (isIntName(name)) return T[name];
  return undefined;
}

/** How the object describes a value of this type (ring views are untyped pointers). */
export function valueType(t: DslType): ValueType {
  if (t.kind === "int" || t.kind === "bool" || t.kind === "void") return t;
  return { kind: "ptr" };
}
