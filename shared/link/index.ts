/** The authenticated point-to-point link layer (DESIGN.md section 2, "links"): sans-I/O, one import. */
export * from './errors.ts';
export * from './keys.ts';
export * from './frame.ts';
export * from './window.ts';
export * from './receiver.ts';
export * from './sender.ts';
