package controlplane

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Texts the real server answers with (protocol reference §2.4, §2.7, §2.8,
// §4.6, §4.7). They are part of the contract the agent reacts to.
const (
	msgAccessMismatch   = "ERROR:  accessID MISMATCH"
	msgAlreadyConnected = "CLUSTER ALREADY CONNECTED"
	// msgNoInfra is what the server's database layer answers for an unknown
	// infraID (mongo-go-driver's ErrNoDocuments).
	msgNoInfra = "mongo: no documents in result"

	respLogsSent      = "LOGS SENT SUCCESSFULLY"
	respLogsCancelled = "LOG REQUEST CANCELLED"
	respKubeData      = "KubeData sent successfully"
)

// identity is an InfraIdentity input value.
type identity struct {
	InfraID, AccessKey, Version string
}

func identityFrom(v any) identity {
	m, _ := v.(map[string]any)
	return identity{InfraID: str(m, "infraID"), AccessKey: str(m, "accessKey"), Version: str(m, "version")}
}

// infraState is the server's record of one chaos infrastructure.
type infraState struct {
	accessKey  string
	registered bool
	confirmed  bool
	sub        *subscription // active infraConnect subscription, if any
}

// newAccessKey returns base64 (URL alphabet, padded) of 32 random bytes: 44
// characters ending in "=", like the server's rotated keys.
func newAccessKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// checkVersion is the version half of VerifyInfra (§2.7).
func (s *Server) checkVersion(v string) error {
	sv := s.opts.Version
	if strings.Contains(strings.ToLower(sv), "ci") {
		if v != sv {
			return fmt.Errorf("ERROR: infra VERSION MISMATCH (need %s got %s)", sv, v)
		}
		return nil
	}
	major := strings.Split(sv, ".")[0]
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != major {
		return fmt.Errorf("ERROR: infra VERSION MISMATCH (need %s.x.x got %s)", major, v)
	}
	return nil
}

// verifyInfraLocked is VerifyInfra (§2.7); s.mu must be held.
func (s *Server) verifyInfraLocked(id identity) (*infraState, error) {
	if err := s.checkVersion(id.Version); err != nil {
		return nil, err
	}
	inf := s.infras[id.InfraID]
	if inf == nil {
		return nil, errors.New(msgNoInfra)
	}
	if inf.accessKey != id.AccessKey || !inf.registered {
		return nil, errors.New(msgAccessMismatch)
	}
	return inf, nil
}

// resolveMutation runs one Mutation root field.
func (s *Server) resolveMutation(name string, args map[string]any) (any, error) {
	req, _ := args["request"].(map[string]any)
	var (
		v   any
		err error
	)
	switch name {
	case "confirmInfraRegistration":
		v, err = s.confirmInfraRegistration(req)
	case "chaosExperimentRun":
		v, err = s.chaosExperimentRun(req)
	case "podLog":
		v, err = s.podLog(req)
	case "kubeObj":
		v, err = s.kubeData(req, "kubeObj")
	case "kubeNamespace":
		v, err = s.kubeData(req, "kubeNamespace")
	default:
		err = fmt.Errorf("mutation %s is not implemented by the test control plane", name)
	}
	if err != nil {
		s.addRejected(err.Error())
	}
	s.notify(name)
	return v, err
}

// confirmInfraRegistration implements §2.4.
func (s *Server) confirmInfraRegistration(req map[string]any) (any, error) {
	id := identityFrom(req)
	log := s.log.With(zap.String("type", "confirmInfraRegistration"), zap.String("infraID", id.InfraID))
	if id.Version != s.opts.Version {
		err := fmt.Errorf("ERROR: INFRA VERSION MISMATCH (need %s got %s)", s.opts.Version, id.Version)
		log.Info("request rejected", zap.Error(err))
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inf := s.infras[id.InfraID]
	if inf == nil {
		log.Info("request rejected", zap.String("error", msgNoInfra))
		return nil, errors.New(msgNoInfra)
	}
	if inf.accessKey != id.AccessKey {
		log.Info("request received", zap.Bool("confirmed", false))
		return map[string]any{"isInfraConfirmed": false, "newAccessKey": nil, "infraID": nil}, nil
	}
	key, err := newAccessKey()
	if err != nil {
		return nil, err
	}
	inf.accessKey = key
	inf.registered = true
	inf.confirmed = true
	s.broadcastLocked()
	log.Info("request received", zap.Bool("confirmed", true))
	return map[string]any{"isInfraConfirmed": true, "newAccessKey": key, "infraID": id.InfraID}, nil
}

// runKeys returns the key the server looks a run up by (§6.1: by notifyID
// when given, else by run id) and every key a completed run is known under.
func runKeys(experimentID, runID, notifyID string) (lookup string, all []string) {
	byRun := "run\x00" + experimentID + "\x00" + runID
	if notifyID == "" {
		return byRun, []string{byRun}
	}
	byNotify := "notify\x00" + experimentID + "\x00" + notifyID
	return byNotify, []string{byRun, byNotify}
}

// chaosExperimentRun implements §4.6/§6.1 (without the experiment database:
// every experimentID is accepted).
func (s *Server) chaosExperimentRun(req map[string]any) (any, error) {
	ev := RunEvent{
		Request:         req,
		ExperimentID:    str(req, "experimentID"),
		ExperimentRunID: str(req, "experimentRunID"),
		NotifyID:        str(req, "notifyID"),
		Completed:       req["completed"] == true,
		Received:        time.Now(),
	}
	log := s.log.With(zap.String("type", "chaosExperimentRun"), zap.String("runID", ev.ExperimentRunID),
		zap.String("experimentID", ev.ExperimentID), zap.Bool("completed", ev.Completed))

	raw, err := base64.StdEncoding.DecodeString(str(req, "executionData"))
	if err == nil {
		err = json.Unmarshal(raw, &ev.Execution)
		if err == nil && ev.Execution == nil {
			err = errors.New("executionData is not a JSON object")
		}
	}
	if err != nil {
		err = fmt.Errorf("failed to decode executionData of experiment run %s: %v", ev.ExperimentRunID, err)
		log.Info("request rejected", zap.Error(err))
		return nil, err
	}
	ev.Phase, _ = ev.Execution["phase"].(string)
	log = log.With(zap.String("phase", ev.Phase))

	if ub := str(req, "updatedBy"); ub != "" {
		if _, err := base64.RawURLEncoding.DecodeString(ub); err != nil {
			// The real server calls a fatal logger here and exits.
			msg := fmt.Sprintf("FATAL: updatedBy %q is not unpadded base64url (%v): the real ChaosCenter server would have terminated", ub, err)
			s.mu.Lock()
			if s.fatal == "" {
				s.fatal = msg
			}
			s.mu.Unlock()
			log.Error("request would crash the real server", zap.String("updatedBy", ub))
			return nil, errors.New(msg)
		}
	}

	lookup, keys := runKeys(ev.ExperimentID, ev.ExperimentRunID, ev.NotifyID)
	s.mu.Lock()
	if s.runDone[lookup] {
		s.mu.Unlock()
		err := fmt.Errorf("experiment run has been discarded due the duplicate event, workflowId: %s, workflowRunId: %s",
			ev.ExperimentID, ev.ExperimentRunID)
		log.Info("request rejected", zap.Error(err))
		return nil, err
	}
	if ev.Completed {
		for _, k := range keys {
			s.runDone[k] = true
		}
	}
	s.runs = append(s.runs, ev)
	s.mu.Unlock()
	log.Info("request received")
	return fmt.Sprintf("Experiment run received for for ExperimentID: %s, ExperimentRunID: %s", ev.ExperimentID, ev.ExperimentRunID), nil
}

// podLog implements §4.7: the reply is routed to a pending log request (one
// announced by an action of type "logs"); other ids are answered
// "LOG REQUEST CANCELLED" like the real server does.
func (s *Server) podLog(req map[string]any) (any, error) {
	log := s.log.With(zap.String("type", "podLog"), zap.String("requestID", str(req, "requestID")),
		zap.String("runID", str(req, "experimentRunID")), zap.String("pod", str(req, "podName")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.verifyInfraLocked(identityFrom(req["infraID"])); err != nil {
		log.Info("request rejected", zap.Error(err))
		return nil, err
	}
	s.podLogs = append(s.podLogs, req)
	rid := str(req, "requestID")
	if s.pendingLogs[rid] {
		delete(s.pendingLogs, rid)
		log.Info("request received")
		return respLogsSent, nil
	}
	log.Info("request received (no pending log request)")
	return respLogsCancelled, nil
}

// kubeData implements kubeObj and kubeNamespace (§4.7).
func (s *Server) kubeData(req map[string]any, kind string) (any, error) {
	log := s.log.With(zap.String("type", kind), zap.String("requestID", str(req, "requestID")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.verifyInfraLocked(identityFrom(req["infraID"])); err != nil {
		log.Info("request rejected", zap.Error(err))
		return nil, err
	}
	if kind == "kubeObj" {
		s.kubeObjs = append(s.kubeObjs, req)
	} else {
		s.kubeNS = append(s.kubeNS, req)
	}
	log.Info("request received")
	return respKubeData, nil
}
