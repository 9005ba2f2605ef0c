/**
 * Scenario registry: protocol name (as in `sintra simulate --protocol P`) -> scenario factory.
 * To add a protocol: write scenarios/<p>.ts exporting a ScenarioFactory (see rbc.ts) and register it here.
 */
import type { ScenarioFactory } from '../types.ts';
import { abaScenario } from './aba.ts';
import { cbcScenario } from './cbc.ts';
import { abScenario } from './ab.ts';
import { mvbaScenario } from './mvba.ts';
import { rbcScenario } from './rbc.ts';
import { scabScenario } from './scab.ts';

export const PROTOCOLS = ['rbc', 'cbc', 'aba', 'mvba', 'ab', 'scab'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

export const SCENARIOS: Record<ProtocolName, ScenarioFactory | undefined> = {
  rbc: rbcScenario,
  cbc: cbcScenario,
  aba: abaScenario,
  mvba: mvbaScenario,
  ab: abScenario,
  scab: scabScenario,
};

export function scenarioFactory(protocol: string): ScenarioFactory {
  const f = (SCENARIOS as Record<string, ScenarioFactory | undefined>)[protocol];
  if (!f) {
    const ready = PROTOCOLS.filter((p) => SCENARIOS[p]);
    throw new Error(`no simulation scenario for protocol "${protocol}" (available: ${ready.join(', ')})`);
  }
  return f;
}
