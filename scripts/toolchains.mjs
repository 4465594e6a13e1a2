// The Go releases the helper supports and the tests cover: the newest patch
// of each minor the Go module proxy serves.
export const GO_TOOLCHAINS = ['go1.21.13', 'go1.22.12', 'go1.23.12', 'go1.24.13', 'go1.25.14', 'go1.26.11', 'go1.27.4'];
// npm test's quick subset: the oldest and newest supported.
export const QUICK_TOOLCHAINS = [GO_TOOLCHAINS[0], GO_TOOLCHAINS[GO_TOOLCHAINS.length - 1]];
