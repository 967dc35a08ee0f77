package subscriber

import (
	"context"
	"fmt"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/clockutil"
)

// confirm makes sure the registration is confirmed and the current access key is in use:
// IS_INFRA_CONFIRMED=true in the ConfigMap → the Secret's key; otherwise confirmInfraRegistration
// with the environment's key, then persist the rotated key (Secret first, then the ConfigMap flag,
// so a crash in between never loses the key). A refused key is logged loudly and retried slowly.
func (s *Subscriber) confirm(ctx context.Context) error {
	cms := s.o.Kube.CoreV1().ConfigMaps(s.o.Namespace)
	cm, err := cms.Get(ctx, ConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.log.Warn("ConfigMap " + ConfigMapName + " not found: registration state is not persisted")
		cm = nil
	case err != nil:
		return fmt.Errorf("read %s: %w", ConfigMapName, err)
	}
	if cm != nil && cm.Data["IS_INFRA_CONFIRMED"] == "true" {
		sec, err := s.o.Kube.CoreV1().Secrets(s.o.Namespace).Get(ctx, SecretName, metav1.GetOptions{})
		if err == nil {
			if k := string(sec.Data["ACCESS_KEY"]); k != "" {
				s.key.Store(&k)
			}
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("read %s: %w", SecretName, err)
		}
		s.log.Info("registration already confirmed")
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
			if err := s.persistKey(ctx, *resp.NewAccessKey); err != nil {
				return err
			}
			s.key.Store(resp.NewAccessKey)
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

func (s *Subscriber) persistKey(ctx context.Context, key string) error {
	secrets := s.o.Kube.CoreV1().Secrets(s.o.Namespace)
	sec, err := secrets.Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read %s to store the rotated key: %w", SecretName, err)
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data["ACCESS_KEY"] = []byte(key)
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("store the rotated key in %s: %w", SecretName, err)
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
