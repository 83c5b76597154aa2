//go:build race

package remoting

// raceEnabled: the race detector drops a quarter of what is put in a sync.Pool, and
// instruments allocation, so allocation counts mean little.
const raceEnabled = true
