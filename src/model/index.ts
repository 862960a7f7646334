export * from './event.js';
export * from './alert.js';
