package subscriber

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/clockutil"
)

// confirm makes sure the registration is confirmed and the current access key is in use, as
// upstream does (litmus-protocol §2.3–2.6): IS_INFRA_CONFIRMED=true → the Secret's key (the
// environment's when there is no Secret); otherwise confirmInfraRegistration with the
// environment's key. The flag is the ConfigMap's when it can be read, else the environment's
// (an out-of-cluster agent without the install's objects). A rotated key is used at once and
// stored by keepKey in the background: it is never lost to a failed write, and the agent never
// exits for it. A refused key is logged loudly and retried slowly.
func (s *Subscriber) confirm(ctx context.Context) error {
	confirmed, fromConfigMap := s.o.InfraConfirmed, false
	cm, err := s.o.Kube.CoreV1().ConfigMaps(s.o.Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	switch {
	case err == nil:
		confirmed, fromConfigMap = cm.Data["IS_INFRA_CONFIRMED"] == "true", true
	case apierrors.IsNotFound(err):
		s.log.Warn("ConfigMap "+ConfigMapName+" not found: registration state is not persisted; using IS_INFRA_CONFIRMED from the environment",
			zap.Bool("confirmed", confirmed))
	default:
		s.log.Warn("cannot read ConfigMap "+ConfigMapName+"; using IS_INFRA_CONFIRMED from the environment", zap.Error(err), zap.Bool("confirmed", confirmed))
	}
	if confirmed {
		sec, err := s.o.Kube.CoreV1().Secrets(s.o.Namespace).Get(ctx, SecretName, metav1.GetOptions{})
		switch {
		case err == nil:
			if k := string(sec.Data["ACCESS_KEY"]); k != "" {
				s.key.Store(&k)
			}
		case apierrors.IsNotFound(err):
			s.log.Info("Secret " + SecretName + " not found: using the access key from the environment")
		default:
			s.log.Warn("cannot read Secret "+SecretName+": using the access key from the environment", zap.Error(err))
		}
		s.log.Info("registration already confirmed", zap.Bool("flagFromConfigMap", fromConfigMap))
		return nil
	}

	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = s.o.ReconnectMin, s.o.ReconnectMax, 0
	for {
		var resp struct {
			IsInfraConfirmed bool    `json:"isInfraConfirmed"`
			NewAccessKey     *string `json:"newAccessKey"`
			InfraID          *string `json:"infraID"`
		}
		err := s.gql.do(ctx, docConfirm, map[string]any{"request": s.identity()}, "confirmInfraRegistration", &resp)
		switch {
		case err == nil && resp.IsInfraConfirmed && resp.NewAccessKey != nil && *resp.NewAccessKey != "":
			key := *resp.NewAccessKey
			s.key.Store(&key) // the server has rotated it: from now on only this key works
			if err := s.persistKey(ctx, key); err != nil {
				s.unsavedKey = key
				s.log.Error("registration confirmed, but the rotated access key could not be stored: it is kept in memory and storing it is retried; "+
					"if the agent restarts before that succeeds, re-download and re-apply the infrastructure manifest", zap.Error(err))
				return nil
			}
			s.log.Info("registration confirmed; rotated access key stored", zap.String("secret", SecretName))
			return nil
		case err == nil:
			s.log.Error("the control plane did not accept this access key: re-download and re-apply the infrastructure manifest")
		case IsTransient(err):
			s.log.Warn("cannot reach the control plane to confirm the registration", zap.Error(err))
		default:
			s.log.Error("registration confirmation failed", zap.Error(err))
		}
		if err := clockutil.Sleep(ctx, s.o.Clock, bo.NextBackOff()); err != nil {
			return err
		}
	}
}

// keyRetryMax caps the wait between attempts to store a rotated key.
const keyRetryMax = 5 * time.Minute

// keepKey retries storing a rotated access key with a capped back-off until it is stored or ctx
// ends; it never gives up and never stops the agent.
func (s *Subscriber) keepKey(ctx context.Context, key string) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = max(s.o.ReconnectMin, time.Second), keyRetryMax, 0
	for attempt := 1; ; attempt++ {
		if err := clockutil.Sleep(ctx, s.o.Clock, bo.NextBackOff()); err != nil {
			s.log.Error("stopping with the rotated access key still not stored: re-download and re-apply the infrastructure manifest before the next start")
			return
		}
		err := s.persistKey(ctx, key)
		if err == nil {
			s.log.Info("rotated access key stored", zap.String("secret", SecretName), zap.Int("attempts", attempt+1))
			return
		}
		s.log.Warn("still cannot store the rotated access key (kept in memory); retrying", zap.Error(err), zap.Int("attempt", attempt+1))
	}
}

// persistKey writes the key to the Secret (created when missing), then the confirmed flag to
// the ConfigMap (when it exists): Secret first, so that a crash in between never loses the key.
func (s *Subscriber) persistKey(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	secrets := s.o.Kube.CoreV1().Secrets(s.o.Namespace)
	sec, err := secrets.Get(ctx, SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: s.o.Namespace, Labels: map[string]string{"app.kubernetes.io/name": "chaos-agent"}},
			Data:       map[string][]byte{"ACCESS_KEY": []byte(key), "INFRA_ID": []byte(s.o.InfraID)},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create %s to store the rotated key: %w", SecretName, err)
		}
	case err != nil:
		return fmt.Errorf("read %s to store the rotated key: %w", SecretName, err)
	default:
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		sec.Data["ACCESS_KEY"] = []byte(key)
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("store the rotated key in %s: %w", SecretName, err)
		}
	}
	cms := s.o.Kube.CoreV1().ConfigMaps(s.o.Namespace)
	cm, err := cms.Get(ctx, ConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", ConfigMapName, err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["IS_INFRA_CONFIRMED"] = "true"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark %s confirmed: %w", ConfigMapName, err)
	}
	return nil
}
