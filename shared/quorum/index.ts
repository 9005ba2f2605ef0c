export * from './quorum-system.ts';
export * from './structure-file.ts';
