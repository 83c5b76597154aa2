package message

import (
	"encoding/binary"
	"fmt"
)

// Batch element layout (wire format, never change).
const (
	batchOffTotalSize = 0
	batchOffFlag      = 12
	batchOffBodyLen   = 16
	batchOffBody      = 20
	// BatchElementOverhead is the size of a batch element with an empty body
	// and no properties: TOTALSIZE, MAGICCODE, BODYCRC, FLAG, BODYLENGTH (4
	// each) and PROPERTIESLENGTH (2).
	BatchElementOverhead = 22
)

// BatchElement is one message of a batch body; Body and Properties alias the
// input.
type BatchElement struct {
	Flag       int32
	Body       []byte
	Properties []byte
}

// ParseBatch validates and iterates a batch body (the body of
// SEND_BATCH_MESSAGE, §3.6), calling fn for each element in order with its
// index. Each element is TOTALSIZE(4) MAGIC(4, ignored) BODYCRC(4, ignored)
// FLAG(4) BODYLENGTH(4) body PROPERTIESLENGTH(int16) properties, and TOTALSIZE
// must equal 22 + BODYLENGTH + PROPERTIESLENGTH and fit in what is left.
//
// Errors wrap ErrTruncated (the body ends inside an element) or ErrCorrupt
// (inconsistent lengths, or more than maxElements elements when maxElements
// > 0), with the element index. An error from fn aborts the walk and is
// returned as is. An empty body is valid and has no elements. ParseBatch
// does not allocate unless it fails.
//
// Elements seen before an error have already been passed to fn; callers that
// need all-or-nothing should validate with a no-op fn first.
func ParseBatch(body []byte, maxElements int, fn func(i int, e BatchElement) error) error {
	be := binary.BigEndian
	for i := 0; len(body) > 0; i++ {
		if maxElements > 0 && i >= maxElements {
			return fmt.Errorf("batch element %d: %w: more than %d elements", i, ErrCorrupt, maxElements)
		}
		if len(body) < BatchElementOverhead {
			return fmt.Errorf("batch element %d: %w: %d bytes left, need at least %d", i, ErrTruncated, len(body), BatchElementOverhead)
		}
		total := int64(int32(be.Uint32(body[batchOffTotalSize:])))
		if total < BatchElementOverhead {
			return fmt.Errorf("batch element %d: %w: TOTALSIZE %d below %d", i, ErrCorrupt, total, BatchElementOverhead)
		}
		if total > int64(len(body)) {
			return fmt.Errorf("batch element %d: %w: TOTALSIZE %d, %d bytes left", i, ErrTruncated, total, len(body))
		}
		bodyLen := int64(int32(be.Uint32(body[batchOffBodyLen:])))
		if bodyLen < 0 || bodyLen > total-BatchElementOverhead {
			return fmt.Errorf("batch element %d: %w: BODYLENGTH %d, TOTALSIZE %d", i, ErrCorrupt, bodyLen, total)
		}
		p := batchOffBody + int(bodyLen)
		propsLen := int64(int16(be.Uint16(body[p:])))
		if propsLen < 0 || BatchElementOverhead+bodyLen+propsLen != total {
			return fmt.Errorf("batch element %d: %w: PROPERTIESLENGTH %d, BODYLENGTH %d, TOTALSIZE %d", i, ErrCorrupt, propsLen, bodyLen, total)
		}
		n := int(total)
		e := BatchElement{
			Flag:       int32(be.Uint32(body[batchOffFlag:])),
			Body:       body[batchOffBody:p:p],
			Properties: body[p+2 : n : n],
		}
		if err := fn(i, e); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// AppendBatchElement appends one batch element to dst, with MAGICCODE and
// BODYCRC 0 as the clients write them. The caller keeps properties within
// MaxPropertiesLen and the element within an int32.
func AppendBatchElement(dst []byte, flag int32, body []byte, properties []byte) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(BatchElementOverhead+len(body)+len(properties)))
	dst = be.AppendUint32(dst, 0) // MAGICCODE
	dst = be.AppendUint32(dst, 0) // BODYCRC
	dst = be.AppendUint32(dst, uint32(flag))
	dst = be.AppendUint32(dst, uint32(len(body)))
	dst = append(dst, body...)
	dst = be.AppendUint16(dst, uint16(len(properties)))
	return append(dst, properties...)
}
