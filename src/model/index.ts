export * from './event.js';
export * from './alert.js';
export * from './principal.js';
