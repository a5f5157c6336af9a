/**
 * The file the master forks: pins the tick shape before anything else runs
 * (see tick-shape.ts), then runs the worker (main.ts).
 *
 * @module
 */
import { pinTickShape } from './tick-shape.js';

pinTickShape();
await import('./main.js');
