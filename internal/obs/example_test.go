// SPDX-License-Identifier: Apache-2.0

package obs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/contrail-go/contrail/internal/obs"
)

func ExampleIntrospect() {
	is := obs.NewIntrospect("contrail-control", obs.NewRegistry(), nil)
	is.Handle("/peers", "BGP peers", func(r *http.Request) (any, error) {
		return []map[string]string{{"address": "10.0.0.2", "state": "Established"}}, nil
	})
	is.AddCheck("xmpp", func(ctx context.Context) error { return errors.New("listener closed") })

	for _, path := range []string{"/peers", "/healthz"} {
		rec := httptest.NewRecorder()
		is.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Body)
		fmt.Printf("%s %d\n%s", path, rec.Code, body)
	}
	// Output:
	// /peers 200
	// [
	//   {
	//     "address": "10.0.0.2",
	//     "state": "Established"
	//   }
	// ]
	// /healthz 503
	// [-]xmpp failed: listener closed
	// healthz check failed
}
