/** Absolute path of the Node 24 binary; throws naming the fix when it is not installed. */
export declare function node24Path(): string
