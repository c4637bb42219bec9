// What the figures were measured on: they only mean something beside these facts.

import { cpus, loadavg, totalmem } from 'node:os';
import type { OtherWork } from './other-work.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  date: string;
  /** 1-minute load average when the run started (the fallback where /proc is not there). */
  loadStart: number;
  /** What else used the machine while the run went on; `null` where it cannot be told. */
  otherWork: OtherWork | null;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    loadStart: loadavg()[0] ?? 0,
    otherWork: null,
  };
}
