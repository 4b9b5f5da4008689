// SPDX-License-Identifier: Apache-2.0

package store

import "go.uber.org/zap"

// nopZap silences the etcd client's own logger; the store logs what matters.
func nopZap() *zap.Logger { return zap.NewNop() }
