// .BTF.ext: func_info (one record per function: byte offset in its section, FUNC type id) and line_info
// (byte offset, file name and source line text in the BTF string table, line << 10 | column), grouped by
// section as libbpf reads them. Line records come from the instructions' source positions.

import { slots, type Insn } from "../bpf/insn";
import type { StringTable } from "./builder";

export interface ExtSection {
  name: string;
  funcs: { offset: number; typeId: number }[];
  lines: { offset: number; file: string; text: string; line: number; col: number }[];
}

/** Line records for instructions starting at byte `base`: one at each function start and at each change
 *  of source line. */
export function lineRecords(insns: Insn[], base: number): ExtSection["lines"] {
  const out: ExtSection["lines"] = [];
  let slot = 0;
  let last = "";
  for (const i of insns) {
    if (i.pos) {
      const key = `${i.pos.file}:${i.pos.line}`;
      if (key !== last || out.length === 0) out.push({ offset: base + slot * 8, file: i.pos.file, text: i.pos.text, line: i.pos.line, col: i.pos.col });
      last = key;
    }
    slot += slots(i);
  }
  return out;
}

/** Encode .BTF.ext (version 1, 32-byte header, no CO-RE relocations). */
export function encodeBtfExt(sections: ExtSection[], strings: StringTable): Uint8Array {
  const func: number[] = [8];
  const line: number[] = [16];
  for (const s of sections) {
    func.push(strings.add(s.name), s.funcs.length, ...s.funcs.flatMap((f) => [f.offset, f.typeId]));
    line.push(strings.add(s.name), s.lines.length, ...s.lines.flatMap((l) => [l.offset, strings.add(l.file), strings.add(l.text), ((l.line << 10) | Math.min(l.col, 1023)) >>> 0]));
  }
  const out = Buffer.alloc(32 + (func.length + line.length) * 4);
  out.writeUInt16LE(0xeb9f, 0);
  out.writeUInt8(1, 2);
  out.writeUInt8(0, 3);
  out.writeUInt32LE(32, 4);
  out.writeUInt32LE(0, 8);
  out.writeUInt32LE(func.length * 4, 12);
  out.writeUInt32LE(func.length * 4, 16);
  out.writeUInt32LE(line.length * 4, 20);
  out.writeUInt32LE((func.length + line.length) * 4, 24);
  out.writeUInt32LE(0, 28);
  [...func, ...line].forEach((w, i) => out.writeUInt32LE(w >>> 0, 32 + i * 4));
  return out;
}
