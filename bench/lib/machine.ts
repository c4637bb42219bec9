// What the figures were measured on: they only mean something beside these facts.

import { cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  date: string;
  /** 1-minute load average when the run started and ended: other work on the machine. */
  loadStart: number;
  loadEnd: number;
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
    loadEnd: Number.NaN,
  };
}

export function currentLoad(): number {
  return loadavg()[0] ?? 0;
}
