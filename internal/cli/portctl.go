// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/contrail-go/contrail/internal/agent/portapi"
)

func init() {
	register("vrouter-port-control", "add or delete a VM port on the local vrouter agent (the original's flags)", runPortControl)
}

func runPortControl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch code := portapi.RunPortControl(ctx, args, stdout, stderr); code {
	case 0:
		return nil
	case 2:
		return usageError{fmt.Errorf("usage error (see above)")}
	default:
		return fmt.Errorf("failed (see above)")
	}
}
