/** Option parsers several commands share, in a module of their own so that loading one does not load the others. */
import { InvalidArgumentError } from 'commander';

/** A commander argument parser for integers in [min, max]. */
export function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^[0-9]{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    }
    return Number(value);
  };
}

/** Commander collector for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
