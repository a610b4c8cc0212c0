// .BTF.ext: func_info (one record per function: byte offset in its section, FUNC type id) and line_info
// (byte offset, file name and source line text in the BTF string table, line << 10 | column), grouped by
// code section as libbpf reads them. Line records come from the instructions' source positions after
// layout; the kernel requires one at the first instruction of every function (else "missing
// bpf_line_info for func#N").

import { slots, type Insn, type SourcePos } from "../bpf/insn";
import type { StringTable } from "./strings";

/** One line_info record before encoding. */
export interface LineRecord {
  /** Byte offset of the instruction in its section. */
  offset: number;
  file: string;
  text: string;
  line: number;
  col: number;
}

/** The func_info and line_info records of one code section. */
export interface ExtSection {
  name: string;
  funcs: { offset: number; typeId: number }[];
  lines: LineRecord[];
}

const FUNC_REC_SIZE = 8;
const LINE_REC_SIZE = 16;
const HEADER_LEN = 32;
/** Largest column line_col can hold (10 bits). */
const MAX_COL = 0x3ff;
/** Largest line line_col can hold (22 bits). */
const MAX_LINE = 0x3fffff;

/** Line records for one function whose instructions start at byte `base`: one at the function's first
 *  instruction (with the first position found in the function, or `fallback`) and one at each
 *  instruction whose (file, line) differs from the previous positioned instruction's. */
export function lineRecords(insns: Insn[], base: number, fallback?: SourcePos): LineRecord[] {
  const out: LineRecord[] = [];
  const first = insns.find((i) => i.pos)?.pos ?? fallback;
  if (!first || insns.length === 0) return out;
  const rec = (offset: number, p: SourcePos): LineRecord => ({ offset, file: p.file, text: p.text, line: p.line, col: p.col });
  out.push(rec(base, first));
  let last = `${first.file}\0${first.line}`;
  let slot = 0;
  for (const i of insns) {
    if (i.pos && slot > 0) {
      const key = `${i.pos.file}\0${i.pos.line}`;
      if (key !== last) out.push(rec(base + slot * 8, i.pos));
      last = key;
    }
    slot += slots(i);
  }
  return out;
}

/** Encode .BTF.ext (version 1, 32-byte header, func_info then line_info, empty core_relo). Section names,
 *  file names and line texts are added to `strings`, which must then be encoded into .BTF. */
export function encodeBtfExt(sections: ExtSection[], strings: StringTable): Uint8Array {
  const func: number[] = [FUNC_REC_SIZE];
  const line: number[] = [LINE_REC_SIZE];
  for (const s of sections) {
    if (s.funcs.length) func.push(strings.add(s.name), s.funcs.length, ...s.funcs.flatMap((f) => [f.offset, f.typeId]));
    if (s.lines.length) {
      line.push(strings.add(s.name), s.lines.length);
      for (const l of s.lines) {
        const lineCol = ((Math.min(Math.max(l.line, 0), MAX_LINE) << 10) | Math.min(Math.max(l.col, 0), MAX_COL)) >>> 0;
        line.push(l.offset, strings.add(printable(l.file)), strings.add(printable(l.text)), lineCol);
      }
    }
  }
  // A subsection with only its record size is what an empty one looks like; libbpf accepts length 0 too.
  const funcLen = func.length > 1 ? func.length * 4 : 0;
  const lineLen = line.length > 1 ? line.length * 4 : 0;
  const words = [...(funcLen ? func : []), ...(lineLen ? line : [])];
  const out = Buffer.alloc(HEADER_LEN + words.length * 4);
  out.writeUInt16LE(0xeb9f, 0);
  out.writeUInt8(1, 2); // version
  out.writeUInt8(0, 3); // flags
  out.writeUInt32LE(HEADER_LEN, 4);
  out.writeUInt32LE(0, 8); // func_info_off (from the end of the header)
  out.writeUInt32LE(funcLen, 12);
  out.writeUInt32LE(funcLen, 16); // line_info_off
  out.writeUInt32LE(lineLen, 20);
  out.writeUInt32LE(funcLen + lineLen, 24); // core_relo_off
  out.writeUInt32LE(0, 28); // core_relo_len
  words.forEach((w, i) => out.writeUInt32LE(w >>> 0, HEADER_LEN + i * 4));
  return out;
}

/** Source text in line_info: a NUL byte would end the string early (and the table refuses it), so it is
 *  written as the two characters \0. */
function printable(s: string): string {
  return s.includes("\0") ? s.replace(/\0/g, "\\0") : s;
}
