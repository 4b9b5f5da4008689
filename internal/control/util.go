// SPDX-License-Identifier: Apache-2.0

package control

import (
	"slices"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/rib"
)

func slicesSortByUUID(s []*model.Object) {
	slices.SortFunc(s, func(a, b *model.Object) int { return compareStr(a.UUID, b.UUID) })
}

func slicesSortRT(s []rib.RouteTarget) {
	slices.Sort(s)
}
