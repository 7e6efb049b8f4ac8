// Package segment stores records in hourly segment files.
package segment
