/** Structures used across tests: the paper's 16-replica (location x os) grid. */
import { parseStructureFile } from '../../shared/quorum/index.ts';

const LOCATIONS = ['zrh', 'nyc', 'sgp', 'fra'];
const OSES = ['linux', 'bsd', 'windows', 'solaris'];

export const GRID_FILE = {
  replicas: LOCATIONS.flatMap((location) => OSES.map((os) => ({ id: `${location}-${os}`, attributes: { location, os } }))),
  adversary: { attributes: { location: 1, os: 1 } },
};

export const grid = () => parseStructureFile(GRID_FILE);
