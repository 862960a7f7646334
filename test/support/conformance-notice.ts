import { conformanceAbsentLine } from './external-captures.js';

/** globalSetup of the conformance tier when ../shared/captures is absent: says so once, in the run's output. */
export default function setup(): void {
  console.log(conformanceAbsentLine());
}
