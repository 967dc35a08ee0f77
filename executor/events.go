package executor

import (
	"context"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// events writes core/v1 Events on ChaosEngines and ChaosResults the way upstream Litmus does,
// because the exporter and ChaosCenter read them by reason and object name: an engine event is
// named <Reason><experiment><engineUID> and updated (count+1) when it recurs; a result event is
// named <Reason><experiment pod> and created once. Failing to write an event is logged, never
// fatal to the experiment.
type events struct {
	client    kube.Interface
	clock     clock.Clock
	component string // source.component
	log       *zap.Logger
	observe   func(engine types.UID, reason litmus.EventReason, at time.Time) // sees every engine event
}

type objectRef struct {
	kind, name, namespace string
	uid                   types.UID
}

func (r objectRef) reference() corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: litmus.APIVersion, Kind: r.kind, Name: r.name, Namespace: r.namespace, UID: r.uid}
}

// engine records an event on an engine; recurring events with the same name are counted.
func (ev *events) engine(ctx context.Context, engine objectRef, experiment string, reason litmus.EventReason, eventType, message string) {
	name := litmus.EngineEventName(reason, experiment, string(engine.uid))
	now := metav1.NewTime(ev.clock.Now())
	if ev.observe != nil {
		ev.observe(engine.uid, reason, now.Time)
	}
	api := ev.client.CoreV1().Events(engine.namespace)
	existing, err := api.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		existing.Count++
		existing.LastTimestamp = now
		existing.Message = message
		existing.Type = eventType
		if _, err = api.Update(ctx, existing, metav1.UpdateOptions{}); err == nil {
			return
		}
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, ev.event(name, engine, reason, eventType, message, now), metav1.CreateOptions{})
		if err == nil {
			return
		}
	}
	ev.log.Warn("cannot record event", zap.String("event", name), zap.String("reason", string(reason)), zap.Error(err))
}

// result records an event on a result, once.
func (ev *events) result(ctx context.Context, result objectRef, experimentPod string, reason litmus.EventReason, eventType, message string) {
	name := litmus.ResultEventName(reason, experimentPod)
	now := metav1.NewTime(ev.clock.Now())
	_, err := ev.client.CoreV1().Events(result.namespace).Create(ctx, ev.event(name, result, reason, eventType, message, now), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		ev.log.Warn("cannot record event", zap.String("event", name), zap.String("reason", string(reason)), zap.Error(err))
	}
}

func (ev *events) event(name string, obj objectRef, reason litmus.EventReason, eventType, message string, now metav1.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name, Namespace: obj.namespace},
		InvolvedObject:      obj.reference(),
		Reason:              string(reason),
		Message:             message,
		Type:                eventType,
		Source:              corev1.EventSource{Component: ev.component},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "chaos-agent",
		ReportingInstance:   ev.component,
	}
}
