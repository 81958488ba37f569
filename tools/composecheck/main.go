// composecheck validates a docker-compose file the way `docker compose config` does, without a
// Docker engine: compose-go (the library the compose CLI uses) loads it, checks it against the
// Compose Specification's JSON schema, resolves interpolation and prints the normalised project
// as JSON for further consistency checks (tests/unit/test_compose.py). Exit 1 on any error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck docker-compose.yml")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithName("gx-pipeline"), cli.WithOsEnv,
		// Every service, those of optional profiles too (the "fabric" workers).
		cli.WithProfiles([]string{"*"}))
	if err == nil {
		var p interface{}
		p, err = opts.LoadProject(context.Background())
		if err == nil {
			out, _ := json.MarshalIndent(p, "", "  ")
			fmt.Println(string(out))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "invalid compose file:", err)
	os.Exit(1)
}
