/** max |got − want| / max |want|: the error relative to the largest expected value. */
export function maxRelativeDifference(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let largest = 0;
  let difference = 0;
  for (let i = 0; i < want.length; i++) {
    largest = Math.max(largest, Math.abs(want[i]));
    difference = Math.max(difference, Math.abs(got[i] - want[i]));
  }
  return difference / largest;
}
