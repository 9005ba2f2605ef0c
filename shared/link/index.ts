/** The authenticated point-to-point link layer (docs/design.md section 5): sans-I/O, one import. */
export * from './errors.ts';
export * from './keys.ts';
export * from './frame.ts';
export * from './window.ts';
export * from './receiver.ts';
export * from './sender.ts';
